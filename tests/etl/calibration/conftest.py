"""The record's tests run syncs against the stand-in NGAS as a separate process."""

from __future__ import annotations

from tests.etl.ngas.conftest import shared_stand_in, stand_in, stand_in_factory  # noqa: F401
