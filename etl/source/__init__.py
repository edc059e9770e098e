"""The ALMA source: its table contract, the engine that reads it, and the administration of a stand-in."""
