"""The web edge: app factory, blueprints, templates, tiles, auth (see :mod:`webmap.factory`)."""
