"""The sync's first step: fetch the calibration documents the mirror does not hold yet, from NGAS.

Every pipeline-calibrated MOUS (one with caltables) archives a pipeline manifest, a restore script and
the PPR it ran from. A document never changes once archived, so the mirror keeps each one it has
fetched (``calibration_document``) and never fetches it again while ASA_PRODUCT_FILES lists it with
the same size. Fetching happens here, before the sync's writing transaction and outside it (so before
the sync lock, which that transaction takes): results are written in short transactions of their
own, so a slow or failing archive never holds the mirror's transaction or its lock. The rows are
written with no run (``updated_run_id`` NULL); the run's transaction claims them (``claim_documents``)
and re-derives their MOUSes' records from what the cache holds (``etl.derive.calibration_record``).

Two syncs may fetch at the same time (only one of them then takes the lock): a document's row is
written by an upsert, and every transaction here and in the claim locks rows in file id order, so
the two neither fail nor deadlock; the later write of the same document wins, with the same content.

A document costs one RETRIEVE: ASA_PRODUCT_FILES gives its size, and a reply of exactly that size is
taken; NGAS's checksum (from STATUS) is compared later, by the recheck of held documents that each
sync makes (``_rearchived``). Where the record needs more from NGAS than the bytes, or the reply is
not plainly the document, STATUS comes first and the bytes are verified before they are kept
(``_fetch_one``).

The step never fails a sync: an archive that cannot be reached, a document it does not have, or the
time budget running out leave rows that say so (``unavailable``, ``missing``), and the next sync tries
those documents again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Boolean, Connection, Engine, and_, bindparam, case, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from etl.calibration.calibration_script import CALIBRATION_SCRIPT, is_calibration_script
from etl.calibration.calibration_script import LIKE_PATTERN as CALIBRATION_SCRIPT_LIKE
from etl.calibration.documents import PARSER_VERSION, parse_document
from etl.calibration.errors import MalformedDocument
from etl.calibration.names import LIKE_PATTERNS, DocumentKind, calibration_stem, document_kind
from etl.errors import (
    ArchiveDown,
    ArchiveFileProblem,
    ArchiveUnavailable,
    NotAnArchive,
    SourceChanged,
    SourceUnavailable,
)
from etl.load.extract import source_snapshot
from etl.logs import fields
from etl.mirror import CalibrationDocument, table_of
from etl.ngas.checksums import RunningChecksum, UnknownChecksum, expected_checksum
from etl.ngas.client import NgasClient
from etl.ngas.status import FileStatus
from etl.progress import Progress
from etl.settings import ArchiveSettings, SourceSettings
from etl.source.contract import build_contract, contract_table
from etl.steps.figures import StepFigures

log = logging.getLogger(__name__)

documents = table_of(CalibrationDocument)
# Rows written per short transaction while documents arrive.
FLUSH_ROWS: Final = 500
# Documents in flight per worker: enough to keep every worker busy, few enough to stop promptly.
IN_FLIGHT_PER_WORKER: Final = 2
# Held documents asked about again (NGAS STATUS) per sync: a seventh of them (each within a week of
# nightly syncs), and at least this many.
RECHECK_CYCLE: Final = 7
RECHECK_AT_LEAST: Final = 50
_NEVER: Final = datetime.min.replace(tzinfo=UTC)
# Caltables archives, whose presence makes a MOUS pipeline-calibrated (auxcaltables do not match).
CALTABLES_PATTERNS: Final = ("%.session\\_%.caltables.tgz", "%.session\\_%.caltables.tar.gz")
LIKE_ESCAPE: Final = "\\"
# The largest a calibration document may be (they are kilobytes; NGAS's reply is held in memory).
DOCUMENT_MAX_BYTES: Final = 1 << 24
NOT_CONFIGURED: Final = "no NGAS archive is configured ([archive] ngas_urls or ALMAMIRROR_NGAS_URL)"


@dataclass(frozen=True, slots=True)  # slots: ALMA lists 134,000 of them
class ListedDocument:
    """A calibration document as ASA_PRODUCT_FILES lists it, under every MOUS that lists it."""

    file_id: str
    kind: DocumentKind
    size: int | None
    mous_uids: tuple[str, ...]


@dataclass(frozen=True)
class DocumentFetch:
    """What the step did: documents listed, already held, fetched, and why the others were not."""

    configured: bool
    listed: int = 0
    held: int = 0
    fetched: int = 0
    malformed: int = 0  # fetched, but they do not parse
    missing: int = 0  # the archive does not have them (or refused, or sent something else)
    unavailable: int = 0  # the archive could not be reached, or the time budget ran out
    reparsed: int = 0  # held documents parsed again by a newer parser
    seconds: float = 0.0
    stopped: str | None = None  # why fetching stopped before every document was tried

    @property
    def skipped_reason(self) -> str | None:
        return None if self.configured else self.stopped or NOT_CONFIGURED

    def figures(self) -> StepFigures:
        """The step as a line of the run's figures: read = listed, inserted = fetched, updated = reparsed.

        Documents that could not be had are not counted: retrying them changes nothing in the mirror.
        """
        return StepFigures(documents.name, self.listed, self.fetched, self.reparsed, 0, self.seconds)


@dataclass
class _Counts:
    fetched: int = 0
    malformed: int = 0
    missing: int = 0
    unavailable: int = 0


def fetch_calibration_documents(
    mirror: Engine, source: Engine, options: SourceSettings, archive: ArchiveSettings | None
) -> DocumentFetch:
    """Fetch every listed calibration document the mirror does not hold; never raises for the archive.

    Held documents an older parser read are parsed again first, archive or not (no network needed).
    """
    started = time.monotonic()
    reparsed = _parse_outdated(mirror)
    if archive is None or not archive.ngas_urls:
        log.info("calibration_documents.skipped %s", fields(reason=NOT_CONFIGURED))
        return DocumentFetch(configured=False, reparsed=reparsed, seconds=time.monotonic() - started)
    try:
        listed = listed_documents(source, options)
    except (SourceUnavailable, SourceChanged) as exc:
        # No run yet to record it: the sync's own read of the source meets the same trouble, and
        # fails as a recorded run if it lasts. Until then the records stay as they were.
        log.warning("calibration_documents.not_listed %s", fields(error=str(exc)))
        return DocumentFetch(
            configured=False, reparsed=reparsed, seconds=time.monotonic() - started,
            stopped=f"the source's product list could not be read ({exc})",
        )
    held = _held(mirror)
    wanted = [document for document in listed if not _holds(held.get(document.file_id), document)]
    deadline = started + archive.document_time_budget
    dated = _dated(listed)
    rearchived = _rearchived(mirror, _to_recheck(listed, held, dated), held, dated, archive, deadline)
    wanted += [document for document, _ in rearchived]
    log.info("calibration_documents.started %s", fields(
        listed=len(listed), held=len(listed) - len(wanted), to_fetch=len(wanted),
        workers=archive.workers, budget_seconds=archive.document_time_budget,
    ))
    # A document the archive lacked last time is asked about by STATUS, as before (NGAS says why).
    lacked = {file_id for file_id, before in held.items() if before.state == "missing"}
    plan = _Plan(dated | lacked, {document.file_id: status for document, status in rearchived})
    counts, stopped = _fetch(mirror, wanted, held, plan, archive, deadline)
    result = DocumentFetch(
        configured=True, listed=len(listed), held=len(listed) - len(wanted), fetched=counts.fetched,
        malformed=counts.malformed, missing=counts.missing, unavailable=counts.unavailable,
        reparsed=reparsed, seconds=time.monotonic() - started, stopped=stopped,
    )
    log.info("calibration_documents.done %s", fields(
        fetched=result.fetched, malformed=result.malformed, missing=result.missing,
        unavailable=result.unavailable, reparsed=result.reparsed, seconds=round(result.seconds, 1),
        stopped=stopped or "",
    ))
    return result


def listed_documents(source: Engine, options: SourceSettings) -> list[ListedDocument]:
    """The calibration documents ASA_PRODUCT_FILES lists for MOUSes with caltables, and every MOUS's
    hand-run calibration scripts, by file id."""
    files = contract_table(build_contract(options.column_names), "asa_product_files")
    calibrated = files.alias("calibrated")
    document_names = [
        files.c.ngas_file_id.like(pattern, escape=LIKE_ESCAPE)
        for patterns in LIKE_PATTERNS.values() for pattern in patterns
    ]
    has_caltables = (
        select(calibrated.c.asa_ous_id)
        .where(
            calibrated.c.asa_ous_id == files.c.asa_ous_id,
            or_(*(calibrated.c.ngas_file_id.like(p, escape=LIKE_ESCAPE) for p in CALTABLES_PATTERNS)),
        )
        .exists()
    )
    # Hand-run calibration scripts are wanted for any MOUS: a manual calibration has no caltables.
    scripts = files.c.ngas_file_id.like(CALIBRATION_SCRIPT_LIKE)
    query = (
        select(files.c.ngas_file_id, files.c.stored_size, files.c.asa_ous_id)
        .where(or_(and_(or_(*document_names), has_caltables), scripts))
        .order_by(files.c.ngas_file_id, files.c.asa_ous_id)
    )
    found: dict[str, ListedDocument] = {}
    with source_snapshot(source, options.schema) as connection:
        for file_id, size, mous_uid in connection.execute(query, execution_options={"yield_per": 10_000}):
            kind = _listed_kind(file_id)
            if kind is None:  # a LIKE match the exact suffix test rejects
                continue
            known = found.get(file_id)
            mouses = (*known.mous_uids, mous_uid) if known is not None else (mous_uid,)
            found[file_id] = ListedDocument(file_id, kind, None if size is None else int(size), mouses)
    return list(found.values())


def _listed_kind(file_id: str) -> DocumentKind | None:
    if is_calibration_script(file_id):
        return CALIBRATION_SCRIPT
    return document_kind(file_id)


@dataclass(frozen=True, slots=True)  # slots: a row for each of ALMA's 134,000 documents
class _Held:
    state: str
    size: int | None
    problem: str | None
    file_version: int | None = None
    checksum: str | None = None  # None for a document fetched by size alone, not yet checked by STATUS
    checked_at: datetime | None = None
    archived_at: datetime | None = None


@dataclass(frozen=True)
class _Plan:
    """How each document is fetched: with STATUS first, or by RETRIEVE alone (see ``_fetch_one``)."""

    status_first: frozenset[str]  # the record needs their IngestionDate (``_dated``), or NGAS lacked them
    statuses: Mapping[str, FileStatus]  # STATUS just asked by the recheck, for those to fetch again


def _dated(listed: Sequence[ListedDocument]) -> frozenset[str]:
    """The pipeline documents of MOUSes that list more than one calibration: the record picks the
    newest archived of them by NGAS's IngestionDate, which only STATUS gives."""
    stems: dict[str, set[str]] = {}
    for document in listed:
        if document.kind == CALIBRATION_SCRIPT:
            continue
        stem = calibration_stem(document.file_id)
        for mous_uid in document.mous_uids:
            stems.setdefault(mous_uid, set()).add(stem)
    several = {mous_uid for mous_uid, found in stems.items() if len(found - {""}) > 1}
    return frozenset(
        document.file_id for document in listed
        if document.kind != CALIBRATION_SCRIPT and several.intersection(document.mous_uids)
    )


def _held(mirror: Engine) -> dict[str, _Held]:
    """What the cache has of every document it has a row for (the content is not read)."""
    with mirror.connect() as connection:
        return {
            row.file_id: _Held(
                row.state, row.size_bytes, row.problem, row.file_version, row.checksum,
                row.checked_at or row.fetched_at, row.archived_at,
            )
            for row in connection.execute(
                select(documents.c.file_id, documents.c.state, documents.c.size_bytes, documents.c.problem,
                       documents.c.file_version, documents.c.checksum, documents.c.checked_at,
                       documents.c.fetched_at, documents.c.archived_at),
                # Streamed: the whole result in the driver's buffers besides the dict cost 40 MB more.
                execution_options={"yield_per": 10_000},
            )
        }


def _to_recheck(
    listed: Sequence[ListedDocument], held: Mapping[str, _Held], dated: frozenset[str]
) -> list[ListedDocument]:
    """The held documents to ask NGAS about again this sync: the least recently checked share.

    A document re-archived with the same size (a new NGAS file version, or new bytes) looks held by
    its size alone; asking about every held one every night would cost ALMA's archive tens of
    thousands of requests, so each sync asks about a share and every one is asked within a week.
    Documents fetched by size alone come first (their checksum is still to be compared), and before
    them those whose IngestionDate the record now needs.
    """
    fetched = [d for d in listed if _holds(held.get(d.file_id), d)]

    def order(document: ListedDocument) -> tuple[bool, bool, datetime, str]:
        before = held[document.file_id]
        undated = document.file_id in dated and before.archived_at is None
        return not undated, before.checksum is not None, before.checked_at or _NEVER, document.file_id

    fetched.sort(key=order)
    share = max(RECHECK_AT_LEAST, -(-len(fetched) // RECHECK_CYCLE))
    return fetched[:share]


def _rearchived(
    mirror: Engine, candidates: Sequence[ListedDocument], held: Mapping[str, _Held], dated: frozenset[str],
    archive: ArchiveSettings, deadline: float,
) -> list[tuple[ListedDocument, FileStatus]]:
    """Those of ``candidates`` whose NGAS file version or checksum is not the one held (to fetch again,
    with the STATUS just asked); the others are marked checked. A document fetched by size alone is
    checked here: the checksum of the bytes held against NGAS's, which the row then records. Never
    raises: a document NGAS cannot describe now stays as held."""
    if not candidates:
        return []
    changed: list[tuple[ListedDocument, FileStatus]] = []
    checked: list[str] = []
    verified: list[tuple[FileStatus, bool]] = []
    for batch in _batches(_statuses(candidates, archive, deadline), FLUSH_ROWS):
        # The held contents of one batch at a time: a week's share of ALMA's documents is 20,000.
        unchecked = _contents(mirror, [d.file_id for d, _ in batch if held[d.file_id].checksum is None])
        for document, status in batch:
            before = held[document.file_id]
            if before.checksum is None and _same_bytes(unchecked.get(document.file_id), status):
                verified.append((status, document.file_id in dated))
            elif (status.file_version, status.checksum) != (before.file_version, before.checksum):
                changed.append((document, status))
            else:
                checked.append(document.file_id)
    with mirror.begin() as connection:
        if checked:
            connection.execute(
                documents.update().where(documents.c.file_id.in_(sorted(checked)))
                .values(checked_at=datetime.now(UTC))
            )
        if verified:
            # One statement for all of them (executemany), in file id order as every writer here.
            connection.execute(
                documents.update().where(documents.c.file_id == bindparam("b_file_id")).values(
                    file_version=bindparam("b_file_version"), checksum=bindparam("b_checksum"),
                    checksum_plugin=bindparam("b_checksum_plugin"), archived_at=bindparam("b_archived_at"),
                    checked_at=bindparam("b_checked_at"),
                    # Its IngestionDate may choose the MOUS's calibration: the next run derives it again.
                    updated_run_id=case(
                        (bindparam("b_rederive", type_=Boolean), None), else_=documents.c.updated_run_id
                    ),
                ),
                [_verified_values(status, rederive) for status, rederive in
                 sorted(verified, key=lambda pair: pair[0].file_id)],
            )
    if changed:
        log.info("calibration_documents.rearchived %s", fields(
            documents=len(changed), first=changed[0][0].file_id,
        ))
    return changed


def _statuses(
    candidates: Sequence[ListedDocument], archive: ArchiveSettings, deadline: float
) -> list[tuple[ListedDocument, FileStatus]]:
    """NGAS's STATUS of each of ``candidates`` it describes now, in their order.

    ``archive.workers`` threads each ask a contiguous share, pipelined on one connection
    (``NgasClient.status_answers``): a node that keeps connections alive answers a share in a few
    writes and reads, and one that closes after every reply is asked one file at a time per thread,
    as before. Nothing more is asked once the archive is found down or the deadline passes: the fetch
    that follows says so, once.
    """
    down = threading.Event()
    share = -(-len(candidates) // archive.workers)

    def ask(part: Sequence[ListedDocument]) -> list[tuple[ListedDocument, FileStatus]]:
        found: list[tuple[ListedDocument, FileStatus]] = []
        with closing(client.status_answers([document.file_id for document in part])) as answers:
            for document, answer in zip(part, answers, strict=True):
                if down.is_set() or time.monotonic() > deadline:
                    break
                try:
                    found.append((document, client.status(document.file_id, answer=answer)))
                except (ArchiveUnavailable, NotAnArchive):
                    down.set()
                except ArchiveFileProblem:
                    continue  # stays as held
        return found

    parts = [candidates[start:start + share] for start in range(0, len(candidates), share)]
    with NgasClient(archive) as client, ThreadPoolExecutor(
        archive.workers, thread_name_prefix="ngas-recheck"
    ) as pool:
        return [pair for found in pool.map(ask, parts) for pair in found]


def _verified_values(status: FileStatus, rederive: bool) -> dict[str, Any]:
    described = {f"b_{name}": value for name, value in _described(status).items()}
    return {**described, "b_file_id": status.file_id, "b_checked_at": datetime.now(UTC),
            "b_rederive": rederive}


def _contents(mirror: Engine, file_ids: Sequence[str]) -> dict[str, str]:
    """The content held of each of ``file_ids``."""
    found: dict[str, str] = {}
    for batch in _batches(sorted(file_ids), FLUSH_ROWS):
        with mirror.connect() as connection:
            rows = connection.execute(
                select(documents.c.file_id, documents.c.content).where(documents.c.file_id.in_(batch))
            )
            found.update((row.file_id, row.content) for row in rows)
    return found


def _same_bytes(content: str | None, status: FileStatus) -> bool:
    """Whether the document held (fetched by size alone) is the file NGAS describes: size and checksum.

    The content was kept as text; a document that was not UTF-8 is not its bytes any more, and is
    fetched again, verified by STATUS."""
    if content is None or status.compressed or status.checksum is None or status.checksum_plugin is None:
        return False
    data = content.encode("utf-8")
    try:
        expected = expected_checksum(status.checksum_plugin, status.checksum)
    except UnknownChecksum:
        return False
    running = RunningChecksum(expected.algorithm)
    running.update(data)
    return len(data) == status.file_size and expected.matches(running.value)


def _described(status: FileStatus) -> dict[str, Any]:
    """What a document's row records of NGAS's STATUS."""
    return {
        "file_version": status.file_version,
        "checksum": status.checksum,
        "checksum_plugin": status.checksum_plugin,
        "archived_at": _ngas_time(status.ingestion_date),
    }


def _holds(held: _Held | None, listed: ListedDocument) -> bool:
    """Held means fetched, with the size the archive lists (a new size is a new version of the file)."""
    if held is None or held.state != "fetched":
        return False
    return listed.size is None or held.size == listed.size


def _parse_outdated(mirror: Engine) -> int:
    """Parse held documents again when their parsed form is an older parser's reading."""
    with mirror.connect() as connection:
        outdated = list(connection.execute(
            select(documents.c.file_id).where(
                documents.c.state == "fetched", documents.c.parser_version < PARSER_VERSION
            ).order_by(documents.c.file_id)
        ).scalars())
    for batch in _batches(outdated, FLUSH_ROWS):
        with mirror.begin() as connection:
            rows = connection.execute(
                select(documents.c.file_id, documents.c.kind, documents.c.content)
                .where(documents.c.file_id.in_(batch))
                .order_by(documents.c.file_id)
            )
            for row in list(rows):
                parsed, problem = _parsed(row.kind, row.content.encode("utf-8"))
                connection.execute(
                    documents.update().where(documents.c.file_id == row.file_id).values(
                        parsed=parsed, parse_problem=problem, parser_version=PARSER_VERSION,
                        updated_run_id=None,
                    )
                )
    if outdated:
        log.info("calibration_documents.reparsed %s", fields(documents=len(outdated), parser=PARSER_VERSION))
    return len(outdated)


def _fetch(
    mirror: Engine,
    wanted: Sequence[ListedDocument],
    held: Mapping[str, _Held],
    plan: _Plan,
    archive: ArchiveSettings,
    deadline: float,
) -> tuple[_Counts, str | None]:
    """Fetch ``wanted`` with ``archive.workers`` at once until done, the deadline, or the archive is gone.

    The deadline is hard: documents still in flight when it passes are left to their threads (which
    stop by the same deadline) and recorded as not fetched; the step does not wait for them.
    """
    counts = _Counts()
    if not wanted:
        return counts, None
    writer = _Writer(mirror, held)
    gate = _Gate(max(2 * archive.workers, 8))
    progress = Progress("calibration documents", total=len(wanted), unit="documents")
    queue: Iterator[ListedDocument] = iter(wanted)
    stopped: str | None = None
    out_of_time = (
        f"the time budget of {archive.document_time_budget:g} s ([archive] document_time_budget) ran out"
    )
    client = NgasClient(archive)
    pool = ThreadPoolExecutor(archive.workers, thread_name_prefix="ngas-document")
    pending: dict[Future[dict[str, Any]], ListedDocument] = {}
    try:
        while True:
            while stopped is None and len(pending) < archive.workers * IN_FLIGHT_PER_WORKER:
                if time.monotonic() > deadline:
                    stopped = out_of_time
                    break
                document = next(queue, None)
                if document is None:
                    break
                pending[pool.submit(_fetch_one, client, document, plan, deadline)] = document
            if not pending:
                break
            done, _ = wait(pending, timeout=max(deadline - time.monotonic(), 0), return_when=FIRST_COMPLETED)
            if not done:
                stopped = stopped or out_of_time
                break
            closed = _take(done, pending, counts, writer, progress, gate)
            stopped = stopped or closed
        for document in [*pending.values(), *queue]:  # not fetched: the next sync tries them
            row = _not_fetched(document, "unavailable", f"not fetched: {stopped}; the next sync tries again")
            _count(counts, row)
            writer.add(row)
    finally:
        # Threads still fetching are not waited for; the client's deadline ends them.
        pool.shutdown(wait=not pending, cancel_futures=True)
        if not pending:
            client.close()
    writer.flush()
    progress.finish()
    if stopped is not None:
        log.warning("calibration_documents.stopped %s", fields(reason=stopped, left=counts.unavailable))
    return counts, stopped


def _take(
    done: Iterable[Future[dict[str, Any]]], pending: dict[Future[dict[str, Any]], ListedDocument],
    counts: _Counts, writer: _Writer, progress: Progress, gate: _Gate,
) -> str | None:
    """Record finished documents; why the step must stop, if one of them says so."""
    stop: str | None = None
    for future in done:
        del pending[future]
        row = future.result()
        _count(counts, row)
        writer.add(row)
        progress.advance()
        if stop is None and (row.get("down") or gate.closes(row)):
            stop = f"the archive is unavailable ({row['problem']})"
    return stop


def _fetch_one(client: NgasClient, document: ListedDocument, plan: _Plan, deadline: float) -> dict[str, Any]:
    """One document as a cache row: fetched (and parsed), or why not.

    Most documents cost one RETRIEVE: the archive metadata gives the size, and a reply of exactly that
    size, plain, is taken as the document; its checksum is compared with NGAS's by the recheck of held
    documents (``_rearchived``, within ``RECHECK_CYCLE`` syncs). STATUS is asked first when the record
    needs its IngestionDate (``_dated``) or the archive lacked the document last time; and whenever
    the plain RETRIEVE is not plainly the document (an error, another size, a file NGAS stores
    compressed) or its bytes would not be kept as they came (not UTF-8): then the document is verified
    by size and checksum before it is kept, and the error, if any, is NGAS's own.
    """
    status = plan.statuses.get(document.file_id)
    if status is None and document.file_id not in plan.status_first and document.size is not None \
            and 0 < document.size <= DOCUMENT_MAX_BYTES:
        try:
            content = client.retrieve_exact(document.file_id, document.size, deadline_at=deadline)
        except (ArchiveDown, NotAnArchive) as exc:  # no other document will do better: the step stops
            return {**_not_fetched(document, "unavailable", str(exc)), "down": True}
        if content is not None and _kept_as_is(content):
            return _fetched_row(document, content, None, document.size)
    try:
        fetched = client.fetch_document(document.file_id, expected_size=document.size, deadline_at=deadline,
                                        max_bytes=DOCUMENT_MAX_BYTES, status=status)
    except (ArchiveDown, NotAnArchive) as exc:  # no other document will do better: the step stops
        return {**_not_fetched(document, "unavailable", str(exc)), "down": True}
    except ArchiveUnavailable as exc:
        return _not_fetched(document, "unavailable", str(exc))
    except ArchiveFileProblem as exc:
        return _not_fetched(document, "missing", exc.detail)
    # The size of the bytes held: a document NGAS stores compressed is held decompressed, at the size the
    # archive lists (STATUS's FileSize is the compressed one), so that the next sync finds it held.
    return _fetched_row(document, fetched.content, fetched.status, len(fetched.content))


def _kept_as_is(content: bytes) -> bool:
    """Whether the row's text is exactly these bytes (UTF-8 without NUL), so that the recheck can
    compute their checksum from it; any other document is verified by STATUS before it is kept."""
    if b"\x00" in content:
        return False
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _fetched_row(
    document: ListedDocument, content: bytes, status: FileStatus | None, size: int
) -> dict[str, Any]:
    """The row of a fetched document; ``status`` None: fetched by size alone, not yet checked by STATUS."""
    parsed, problem = _parsed(document.kind, content)
    now = datetime.now(UTC)
    described = _described(status) if status is not None else {
        "file_version": None, "checksum": None, "checksum_plugin": None, "archived_at": None,
    }
    return {
        **_identity(document),
        "state": "fetched",
        **described,
        "size_bytes": size,
        # PostgreSQL text holds no NUL and must be valid UTF-8; such a document does not parse anyway.
        "content": content.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
        "parsed": parsed,
        "parser_version": PARSER_VERSION,
        "parse_problem": problem,
        "problem": None,
        "fetched_at": now,
        "checked_at": now if status is not None else None,
    }


def _parsed(kind: str, content: bytes) -> tuple[dict[str, Any] | None, str | None]:
    try:
        return parse_document(cast(DocumentKind, kind), content), None
    except MalformedDocument as exc:
        return None, str(exc)


def _identity(document: ListedDocument) -> dict[str, Any]:
    return {"file_id": document.file_id, "kind": document.kind, "mous_uids": list(document.mous_uids)}


def _not_fetched(document: ListedDocument, state: str, problem: str) -> dict[str, Any]:
    return {
        **_identity(document), "state": state, "file_version": None, "size_bytes": document.size,
        "checksum": None, "checksum_plugin": None, "archived_at": None, "content": None, "parsed": None,
        "parser_version": None, "parse_problem": None, "problem": problem, "fetched_at": None,
        "checked_at": None,
    }


def _count(counts: _Counts, row: Mapping[str, Any]) -> None:
    if row["state"] == "fetched":
        counts.fetched += 1
        counts.malformed += row["parse_problem"] is not None
    elif row["state"] == "missing":
        counts.missing += 1
    else:
        counts.unavailable += 1


def _ngas_time(text: str | None) -> datetime | None:
    """NGAS's IngestionDate (``2018-01-05T14:00:00.000``, UTC), naive as every archive time in the mirror."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _batches(rows: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


@dataclass
class _Gate:
    """Closes after ``limit`` documents in a row found the archive unavailable: it is down, not busy."""

    limit: int
    in_a_row: int = 0

    def closes(self, row: Mapping[str, Any]) -> bool:
        self.in_a_row = self.in_a_row + 1 if row["state"] == "unavailable" else 0
        return self.in_a_row >= self.limit


@dataclass
class _Writer:
    """Cache rows, written FLUSH_ROWS at a time, each batch in its own short transaction.

    A document that fails again the way it failed before is not written again: a quiet night with a
    document the archive lacks changes nothing, and re-derives nothing.
    """

    mirror: Engine
    held: Mapping[str, _Held]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        before = self.held.get(row["file_id"])
        # A fetched row is always written: it is a new version of the file (the cache held another).
        failed_again = row["state"] != "fetched" and before is not None and (
            (before.state, before.problem) == (row["state"], row["problem"])
        )
        if failed_again:
            return
        self.rows.append(row)
        if len(self.rows) >= FLUSH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.rows:
            return
        # In file id order: concurrent writers of the same documents then lock rows in one order.
        values = sorted((self._values(row) for row in self.rows), key=lambda row: str(row["file_id"]))
        with self.mirror.begin() as connection:
            _upsert(connection, values)
        self.rows.clear()

    def _values(self, row: Mapping[str, Any]) -> dict[str, Any]:
        # No run yet: the run that commits next claims the row (claim_documents) and names itself.
        written = {key: value for key, value in row.items() if key != "down"}
        return {**written, "updated_run_id": None, "fetched_run_id": None}


def _upsert(connection: Connection, values: list[dict[str, Any]]) -> None:
    statement = pg_insert(documents)
    statement = statement.on_conflict_do_update(
        index_elements=[documents.c.file_id],
        set_={column.name: statement.excluded[column.name] for column in documents.columns
              if column.name != "file_id"},
    )
    connection.execute(statement, values)


def claim_documents(connection: Connection, run_id: int) -> int:
    """Make the documents written since the last committed sync this run's, in its transaction.

    They were written before the run had its lock (``updated_run_id`` NULL): by this sync's fetch,
    or by a sync that fetched and then stopped (at the lock, or failing). The run re-derives the
    records of every MOUS listing one, and names itself as the run that fetched those it holds now;
    if the run rolls back, so does the claim, and the next sync claims them. Returns the rows claimed.
    """
    unclaimed = (
        select(documents.c.file_id)
        .where(documents.c.updated_run_id.is_(None))
        .order_by(documents.c.file_id)
        .with_for_update()
        .scalar_subquery()
    )
    fetched_now = and_(documents.c.state == "fetched", documents.c.fetched_run_id.is_(None))
    return connection.execute(
        documents.update()
        .where(documents.c.file_id.in_(unclaimed))
        .values(
            updated_run_id=run_id,
            fetched_run_id=case((fetched_now, run_id), else_=documents.c.fetched_run_id),
        )
    ).rowcount
