"""The monthly monitoring index: indicators from the event log, the index, and its rendering."""
