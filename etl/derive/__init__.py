"""Deriving: OUSStatus documents → sessions → restorability → data-quality findings, per touched MOUS."""
