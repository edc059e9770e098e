"""Errors of the ETL, grouped by what the caller should do about them.

- ``RetryLater``: a passing condition (connection dropped, lock held, another sync running); the same
  command can succeed later without any change.
- ``StopAndFix``: configuration, usage or schema problems; nothing will succeed until a person acts.
- ``RecordAndGoOn``: one bad archive file of a fetch; recorded as that file's failure and the other
  files go on. It never ends a command by itself.
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


class ArchiveUnavailable(RetryLater):
    """ALMA's archive (NGAS) could not be reached, timed out or answered 5xx on every configured URL."""

    def __init__(self, file_id: str | None, detail: str) -> None:
        self.file_id = file_id
        self.detail = detail
        subject = f"NGAS file {file_id}" if file_id else "NGAS"
        super().__init__(f"{subject}: the archive is unavailable ({detail}); try again later")


class ArchiveDown(ArchiveUnavailable):
    """Every configured NGAS server refused connections: an outage, said once for the whole run."""

    def __init__(self, servers: dict[str, str], not_fetched: int | None = None) -> None:
        self.servers = dict(servers)
        self.not_fetched = not_fetched
        down = "; ".join(f"{name} ({reason})" for name, reason in self.servers.items())
        left = f"; {not_fetched:,} file(s) not fetched" if not_fetched is not None else ""
        RetryLater.__init__(
            self, f"the archive is down: every NGAS server refused connections: {down}{left}; try again later"
        )
        self.file_id = None
        self.detail = down

    def with_count(self, not_fetched: int) -> ArchiveDown:
        return ArchiveDown(self.servers, not_fetched)


class StopAndFix(AlmaMirrorError):
    """Nothing will work until a person changes the configuration, the input or the schema."""


class NotAnArchive(StopAndFix):
    """A configured NGAS URL answered 404 (NGAS's "Command not found"): the URL is wrong, not the file."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        super().__init__(
            "; ".join(f"{name} does not look like an NGAS server: {why}" for name, why in problems.items())
            + "; check [archive] ngas_urls / ALMAMIRROR_NGAS_URL"
        )


class ConfigurationError(StopAndFix):
    """Settings are invalid; ``problems`` lists every one, one line each."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class UsageError(StopAndFix):
    """A command was given an argument it cannot use."""

    exit_code = 2


ACCEPTED_UID_FORMS = (
    "uid://A001/X129e/Xb6 or uid___A001_X129e_Xb6 (archive id A + 3 digits, then two X + lower-case hex "
    "parts), optionally prefixed with 'member.'"
)


class InvalidMousUid(UsageError):
    """The text given as a MOUS UID is in none of the accepted forms (``etl.archive_names``)."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(f"{text!r} is not a MOUS UID; expected {ACCEPTED_UID_FORMS}")


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


class MirrorDiskFull(StopAndFix):
    """The mirror's server has no room left to write (SQLSTATE 53100): someone must free space."""


class SymbolicLinkRefused(StopAndFix):
    """A write would go through a symbolic link almamirror did not create (``etl.safe_files``)."""

    def __init__(self, path: object, what: str = "a symbolic link") -> None:
        self.path = path
        super().__init__(
            f"{path} is {what}: almamirror writes nothing through what it did not create; remove it "
            "and run the command again"
        )


class UnsupportedSource(StopAndFix):
    """The operation cannot run against this kind of source database (e.g. creating tables in Oracle)."""


class RecordAndGoOn(AlmaMirrorError):
    """One item of a larger job could not be had; record it and go on with the others."""


class ArchiveFileProblem(RecordAndGoOn):
    """One archive file could not be had; the other files of a fetch go on. ``kind`` says why."""

    def __init__(self, kind: str, file_id: str, detail: str) -> None:
        self.kind = kind
        self.file_id = file_id
        self.detail = f"NGAS file {file_id}: {detail}"
        super().__init__(f"{kind}: {self.detail}")


class ArchiveFileMissing(ArchiveFileProblem):
    """Every NGAS server that answered said it does not have the file (400, ``NGAMS_ER_UNAVAIL_FILE``).

    Real NGAS says the same, to STATUS as to RETRIEVE, of a file whose node is stopped or OFFLINE (its
    disks are unmounted in the shared database). A configured node that is OFFLINE says so in its own
    STATUS (the client then calls the file unavailable); a stopped one cannot be told apart: the message
    says so, the operator can tell."""

    def __init__(self, file_id: str, ngas_message: str) -> None:
        self.ngas_message = ngas_message
        super().__init__(
            "not_in_archive", file_id, "the archive does not have it, or the node holding it is stopped "
            f"(or OFFLINE and not among the configured URLs; NGAS answers these alike: {ngas_message})",
        )


class ArchiveRefused(ArchiveFileProblem):
    """NGAS rejected the request for the file (a 4xx other than 404), with its Message."""

    def __init__(self, file_id: str, status_code: int, ngas_message: str) -> None:
        self.ngas_message = ngas_message
        super().__init__(
            "refused_by_archive", file_id, f"the archive refused the request (HTTP {status_code}, NGAS: "
            f"{ngas_message})",
        )


class ChecksumUnknown(ArchiveFileProblem):
    """NGAS gave no checksum, or one of a plug-in this client cannot compute: the file cannot be verified."""

    def __init__(self, file_id: str, detail: str) -> None:
        super().__init__("unverifiable", file_id, detail)


class DownloadNotVerified(ArchiveFileProblem):
    """What arrived was not the file (wrong size, wrong checksum, an HTML page), every time it was tried."""

    def __init__(self, file_id: str, detail: str) -> None:
        super().__init__("not_verified", file_id, detail)
