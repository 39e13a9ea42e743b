"""The domain: models, spatial queries, the status workflow, imagery store, matching, I/O."""
