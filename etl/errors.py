"""Errors of the ETL, grouped by what the caller should do about them.

- ``RetryLater``: a passing condition (connection dropped, lock held, another sync running); the same
  command can succeed later without any change.
- ``StopAndFix``: configuration, usage or schema problems; nothing will succeed until a person acts.
- One bad row or document is not an error at all: the derivations record it as a data-quality finding
  and the run goes on.

Every error carries the exit code the CLI should use, and a message meant to be printed on one line.
"""

from __future__ import annotations

from collections.abc import Iterable


class AlmaMirrorError(Exception):
    """Base of every error almamirror reports to its user."""

    exit_code = 1


class RetryLater(AlmaMirrorError):
    """A passing condition: run the same command again later."""


class SourceUnavailable(RetryLater):
    """The ALMA source database could not be reached or dropped the connection."""


class MirrorUnavailable(RetryLater):
    """The PostgreSQL mirror could not be reached or dropped the connection."""


class SyncAlreadyRunning(RetryLater):
    """Another sync holds the mirror's sync lock."""

    exit_code = 3


class StopAndFix(AlmaMirrorError):
    """Nothing will work until a person changes the configuration, the input or the schema."""


class ConfigurationError(StopAndFix):
    """Settings are invalid; ``problems`` lists every one, one line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class UsageError(StopAndFix):
    """A command was given an argument it cannot use."""

    exit_code = 2


class SchemaMismatch(StopAndFix):
    """The mirror's schema is not at the revision this code expects, or a source table is missing."""


class BadSourceData(StopAndFix):
    """The source holds rows the mirror cannot take (a duplicated key, an impossible value)."""


class MirrorRejected(StopAndFix):
    """The mirror database refused a statement (a constraint, a trigger, a permission)."""


class UnsupportedSource(StopAndFix):
    """The operation cannot run against this kind of source database (e.g. creating tables in Oracle)."""
