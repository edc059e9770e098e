"""One sync, start to end: load the source into the mirror, derive, record the run."""
