"""Fetch a request directory's data from ALMA's archive: products from NGAS, ASDMs by the export tool.

``fetch_request`` reads ``fetch-manifest.json`` (written by ``ppr.layout``), downloads every product
into ``products/`` under the name the restore looks for (verified against NGAS's size and checksum) and
exports every ASDM into ``rawdata/`` with ``[archive] asdm_command``. What it verified is kept in
``fetch-record.json``, so a re-run downloads nothing. See docs/fetch.md.
"""

from ppr.fetch.plan import FetchPlan, read_plan
from ppr.fetch.run import FetchOptions, FetchSummary, Outcome, fetch_request

__all__ = ["FetchOptions", "FetchPlan", "FetchSummary", "Outcome", "fetch_request", "read_plan"]
