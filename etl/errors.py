"""Errors of the ETL, grouped by what the caller should do about them.

- ``RetryLater``: a passing condition (connection dropped, lock held, another sync running); the same
  command can succeed later without any change.
- ``StopAndFix``: configuration, usage or schema problems; nothing will succeed until a person acts.
- One bad row or document is not an error at all: a source row the mirror cannot take is quarantined
  (``etl.load.quarantine``), a document the derivations cannot read is recorded; both become
  data-quality findings and the run goes on. Many bad rows in one table are ``TooManyBadRows``.

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


class SourceChanged(RetryLater):
    """The source changed a table's definition or storage while the sync read it (Oracle ORA-01466,
    ORA-08103): the read cannot be trusted, and a later run will read the table as it is then."""


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


class TooManyBadRows(BadSourceData):
    """More of a table's rows are bad than ``source.max_bad_rows`` allows: a broken source, not a bad row."""


class SourceShrank(StopAndFix):
    """A source table reads far fewer rows than at the last successful sync (the shrink guard).

    An emptied or truncated table, a lost grant or a wrong schema looks the same as a mass deletion;
    ``sync --allow-shrink`` accepts a real one.
    """


class MirrorRejected(StopAndFix):
    """The mirror database refused a statement (a constraint, a trigger, a permission)."""


class UnsupportedSource(StopAndFix):
    """The operation cannot run against this kind of source database (e.g. creating tables in Oracle)."""
