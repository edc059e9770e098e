"""The ALMA source: its table contract and the administration of a stand-in."""
