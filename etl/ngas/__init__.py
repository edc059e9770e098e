"""A client of ALMA's archive (NGAS): file status, verified and resumable downloads, small documents.

Neutral code: the restore fetch (``ppr``) and the sync both use it; it knows nothing of the mirror.
See docs/fetch.md for the NGAS behaviours it handles.
"""
