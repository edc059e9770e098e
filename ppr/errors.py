"""Errors of restore-PPR generation, grouped by what the caller should do about them.

- Fix the argument (``UsageError``, exit 2): the relative path is not safe; the archived PPR given for
  comparison cannot be read. (A malformed MOUS UID is ``etl.errors.InvalidMousUid``: the reports parse
  UIDs too.)
- Refuse (``StopAndFix``, exit 1): the MOUS is not in the mirror or not a member OUS, the output
  directory is taken, or ``NotRestorable`` — the mirror's verdict: one of its reason codes
  (``etl.mirror.reasons.REASON_CODES``), or ``proprietary``.
- Report a defect (``StopAndFix``, exit 1): ``InvalidPpr`` — a request or PPR failed the checks of
  ppr/build.py, ppr/layout.py, the project's own schema or the consistency checks beyond it, although
  the mirror called the MOUS restorable; a generated one must not be written.

Every message names the MOUS or file and says what is valid or what to do, on one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from etl.errors import RetryLater, StopAndFix, UsageError

# How many validation problems an InvalidPpr message shows; the rest are counted.
SHOWN_PROBLEMS = 5


class UnknownMous(StopAndFix):
    """The MOUS UID is well formed but the mirror has no OUS with it."""

    def __init__(self, mous_uid: str, nearest: Sequence[str] = ()) -> None:
        self.mous_uid = mous_uid
        hint = f" (did you mean {' or '.join(nearest)}?)" if nearest else ""
        super().__init__(
            f"MOUS {mous_uid} is not in the mirror{hint}; check the UID, or sync the mirror if the MOUS "
            "is new"
        )


class NotAMemberOus(StopAndFix):
    """The UID names an OUS that is not a member OUS (project root, science goal or group OUS)."""

    def __init__(self, ous_uid: str, level: str | None = None) -> None:
        self.ous_uid = ous_uid
        self.level = level
        what = f"a {level} OUS" if level else "not a member OUS"
        super().__init__(
            f"{ous_uid} is {what}; restores are made per member OUS (MOUS) — give one of its MOUS UIDs"
        )


class InvalidRelativePath(UsageError):
    """A request directory path that would land outside the base directory or be empty."""

    def __init__(self, relative_path: str, reason: str) -> None:
        self.relative_path = relative_path
        super().__init__(f"relative path {relative_path!r} cannot be used: {reason}")


class OutputExists(StopAndFix):
    """The request directory already exists and holds files."""

    def __init__(self, path: Path) -> None:
        self.path = path
        super().__init__(
            f"request directory {path} already exists and is not empty; choose another output directory "
            "or pass --force to replace it"
        )


class OutputNotADirectory(OutputExists):
    """Something other than a directory (a file, a symbolic link) is where the request directory goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        StopAndFix.__init__(
            self,
            f"request directory {path} exists and is not a directory (a file or a symbolic link); "
            "remove it or choose another output directory",
        )


class ArchivedPprUnreadable(UsageError):
    """The archived PPR given for the session comparison cannot be read as a PPR."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"archived PPR {path} cannot be read: {reason}; give the PPR archived with the MOUS's "
            "calibration products (*.pprequest.xml or PPR_uid___*.xml)"
        )


class NoArchivedRecord(StopAndFix):
    """``--check`` without a file, for a MOUS whose calibration record the mirror does not hold."""

    def __init__(self, mous_uid: str, state: str, why: str) -> None:
        self.mous_uid = mous_uid
        self.state = state
        super().__init__(
            f"MOUS {mous_uid} has no archived calibration record in the mirror to compare with "
            f"(calibration_record {state}: {why}); give an archived PPR instead: --check FILE"
        )


class ArchivedPprOfAnotherMous(UsageError):
    """The archived PPR given for the session comparison names another MOUS in its OUSStatusRef."""

    def __init__(self, path: Path, archived_mous: str, mous_uid: str) -> None:
        self.path = path
        self.archived_mous = archived_mous
        self.mous_uid = mous_uid
        super().__init__(
            f"{path}: this PPR is for {archived_mous}, not {mous_uid} (its OUSStatusRef); give the PPR "
            f"archived with the calibration products of {mous_uid}"
        )


class NotRestorable(StopAndFix):
    """The MOUS cannot be restored; ``reason`` is the mirror's reason code (or ``proprietary``), the
    message says why."""

    def __init__(self, mous_uid: str, reason: str, detail: str) -> None:
        self.mous_uid = mous_uid
        self.reason = reason
        self.detail = detail
        super().__init__(f"MOUS {mous_uid} cannot be restored ({reason}): {detail}")


class InvalidPpr(StopAndFix):
    """A PPR failed SciPipeRequest.xsd or the checks the schema cannot express; ``problems`` lists all."""

    def __init__(self, problems: Sequence[str], mous_uid: str | None = None) -> None:
        self.problems = list(problems)
        self.mous_uid = mous_uid
        shown = "; ".join(self.problems[:SHOWN_PROBLEMS])
        more = len(self.problems) - SHOWN_PROBLEMS
        if more > 0:
            shown += f" (and {more} more)"
        subject = f"PPR for MOUS {mous_uid}" if mous_uid else "PPR"
        super().__init__(f"{subject} fails SciPipeRequest.xsd or its consistency checks: {shown}")


class NotARequestDirectory(UsageError):
    """``fetch`` was given a directory without a readable fetch manifest."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = path
        super().__init__(
            f"{path} is not a request directory: {reason}; give a directory written by "
            "'almamirror ppr MOUS --build DIR' (it holds fetch-manifest.json)"
        )


class FetchAlreadyRunning(RetryLater):
    """Another fetch works in the request directory (it holds the directory's lock); exit 3, as a
    second sync."""

    exit_code = 3

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        self.holder = holder
        super().__init__(
            f"another fetch ({holder}) is working in {path}; wait for it to end, then run this one again "
            "(it fetches only what is still missing)"
        )


class RequestBeingFetched(RetryLater):
    """--force on a request directory a fetch is working in (it holds the directory's lock): its PPR and
    manifest are not replaced under the fetch; exit 3."""

    exit_code = 3

    def __init__(self, path: Path, holder: str) -> None:
        self.path = path
        super().__init__(
            f"a fetch ({holder}) is working in request directory {path}; wait for it to end, then build it "
            "again with --force"
        )
