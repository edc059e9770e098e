"""The one way a calibration document fails to be read: it is not what its name says it is."""

from __future__ import annotations


class MalformedDocument(ValueError):
    """The document does not parse, or says something no pipeline writes; the message says what."""
