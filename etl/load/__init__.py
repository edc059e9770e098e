"""Loading: extract each contract table from the source, stage it with COPY, merge it into the mirror."""
