"""almamirror's ETL: the ALMA source contract, the PostgreSQL mirror and the sync that fills it."""
