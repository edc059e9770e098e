"""The sync: read the ALMA source, merge it into the mirror, derive sessions and restore status."""
