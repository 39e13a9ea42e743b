"""Training of the learned part of the change method (run offline, never at detection time)."""
