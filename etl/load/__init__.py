"""Loading: extract each contract table from the source, stage it with COPY, merge it into the mirror;
fetch the calibration documents the source lists from NGAS (documents.py)."""
