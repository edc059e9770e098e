"""The ALMA source: its table contract, the stand-in's administration and the demo archive."""
