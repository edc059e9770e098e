"""Restore Pipeline Processing Requests (PPRs) for ALMA member OUSes, built from the mirror only.

This package reads the mirror's schema and views; it never imports the source contract or the loading
code (``etl.source``, ``etl.load``, ``etl.derive``, ``etl.sync``, ``etl.demo``), which a test enforces.
"""
