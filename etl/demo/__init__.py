"""The demo archive: a deterministic synthetic ALMA archive in the stand-in's contract tables.

``fill_demo_archive`` writes the fixed cases (``FIXED_CASES``, identical in every archive) and a random
ALMA-like population sized by ``SCALES``; the same scale and seed always give the same rows.
See docs/demo-archive.md.
"""

from __future__ import annotations

from etl.demo.case_plans import REASONS, FixedCase
from etl.demo.fill import demo_archive_present, fill_demo_archive
from etl.demo.fixed_cases import FIXED_CASES
from etl.demo.scales import DEFAULT_SEED, DEMO_AS_OF, SCALES, ScaleSpec
from etl.demo.summary import DemoSummary

__all__ = [
    "DEFAULT_SEED",
    "DEMO_AS_OF",
    "FIXED_CASES",
    "REASONS",
    "SCALES",
    "DemoSummary",
    "FixedCase",
    "ScaleSpec",
    "demo_archive_present",
    "fill_demo_archive",
]
