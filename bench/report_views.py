"""Benchmark the reporting views at ALMA scale.

Fills a migrated, empty mirror (ALMAMIRROR_MIRROR_URL, else the embedded one) with synthetic rows, set
based (INSERT … SELECT over generate_series), then times the report queries: the server's own time
(EXPLAIN ANALYZE) and the time the report library takes to fetch the rows. A mirror that already holds
real syncs is refused; one filled by an earlier run of this script is reused as it is.

    ALMAMIRROR_MIRROR_URL=postgresql://…/bench .venv/bin/python bench/report_views.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Select, TextClause, func, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ClauseElement, Executable

from etl.database import create_mirror_engine, mirror_url
from etl.migrations import require_head, upgrade
from etl.mirror import MousStatus, SyncRun, table_of
from etl.report.changes import changes_query
from etl.report.connection import use_report_time_zone
from etl.report.quality import quality_query
from etl.report.restorable import (
    TABLE_COLUMNS,
    RestorableFilter,
    newly_restorable_query,
    restorable_query,
)
from etl.report.views import mous_sessions, restorable_mous
from etl.settings import load_settings

# ALMA today: about 8,000 projects and 50,000 member OUSes; a nightly sync for three years is ~1,100
# runs, and 5 million change events is a generous history of them.
SCALE = {
    "projects": 8_000,
    "mous": 50_000,
    "runs": 1_100,
    "events": 5_000_000,
    "issues": 20_000,
    "per_change": 10,
}
BENCH_SOURCE = "bench:synthetic"

# The MOUS UID of number m, written the same way in every statement below.
# uid://A001/X1000/X0 … uid://A001/X10c3/Xff for m up to 50,000.
FILL: tuple[tuple[str, TextClause], ...] = (
    ("sync_run", text("""
        INSERT INTO sync_run (run_id, started_at, finished_at, status, error, "full", baseline, host, pid,
                              source, mous_derived, newly_restorable, quality_opened, quality_resolved)
        SELECT n, day + interval '3 hours 17 minutes', day + interval '3 hours 21 minutes',
               CASE WHEN n % 97 = 0 AND n < :runs THEN 'failed' ELSE 'succeeded' END,
               CASE WHEN n % 97 = 0 AND n < :runs THEN 'source unavailable' END,
               n = 1 OR n % 7 = 0, n = 1, 'bench', 1, :source, 400, 30, 10, 8
        FROM generate_series(1, :runs) AS n,
             LATERAL (SELECT date_trunc('day', now()) - (:runs - n) * interval '1 day' AS day) AS days
    """)),
    ("sync_run_table", text("""
        INSERT INTO sync_run_table (run_id, table_name, rows_read, inserted, updated, deleted, seconds)
        SELECT run_id, table_name, 50000, 40, 300, 2, 1.5
        FROM sync_run,
             unnest(ARRAY['project', 'proposal', 'ous', 'ous_qa2', 'scheduling_block', 'sb_status',
                          'execution_block', 'observing_session', 'shiftlog_entry', 'asa_dataset',
                          'product_file', 'delivery', 'session_assignment', 'mous_status']) AS table_name
        WHERE status = 'succeeded'
    """)),
    ("project", text("""
        INSERT INTO project (project_uid, code, title, pi_account, letter_grade, deleted)
        SELECT format('uid://A001/Xp%s/X1', n), format('%s.1.%s.S', 2012 + n % 12, lpad(n::text, 5, '0')),
               'Bench project ' || n, 'pi' || n, 'A', 0
        FROM generate_series(1, :projects) AS n
    """)),
    # One proposal per project; every 20th project has a second one, a cycle later.
    ("proposal", text("""
        INSERT INTO proposal (proposal_uid, project_uid, cycle, pi_name, associated_exec)
        SELECT format('uid://A001/Xq%s/X%s', n, copy), format('uid://A001/Xp%s/X1', n),
               format('%s.1', 2012 + n % 12 + copy - 1), 'Principal Investigator ' || n, 'NA'
        FROM generate_series(1, :projects) AS n, generate_series(1, 2) AS copy
        WHERE copy = 1 OR n % 20 = 0
    """)),
    ("ous", text("""
        INSERT INTO ous (ous_uid, part_id, state, project_uid, recipe)
        SELECT format('uid://A001/X%s/X%s', to_hex(4096 + m / 256), to_hex(m % 256)), 'X' || m,
               'Verified', format('uid://A001/Xp%s/X1', 1 + m % :projects), 'PipelineCalibration'
        FROM generate_series(1, :mous) AS m
    """)),
    # 62 % restorable, the rest spread over the reasons; release dates from 2013 to two years ahead,
    # 5 % never released; the latest run made 30 MOUSes restorable.
    ("mous_status", text("""
        INSERT INTO mous_status (
            mous_uid, project_uid, state, sb_count, sb_uid, array_family, receiver_band, eb_count,
            pass_eb_count, session_count, empty_session_count, calibration_kind, caltables_sessions,
            sessions_match_caltables, release_date, restorable, reason_code, reason, restorable_since,
            restorable_since_run_id, derived_run_id, rules_version)
        SELECT uid, format('uid://A001/Xp%s/X1', 1 + m % :projects), 'Verified',
               CASE reason WHEN 'multiple_sbs' THEN 2 ELSE 1 END, 'sb-' || m,
               (ARRAY['12m', '12m', '12m', '7m', 'TP'])[1 + m % 5],
               format('ALMA_RB_%s', lpad((3 + m % 8)::text, 2, '0')),
               4, CASE reason WHEN 'no_pass_ebs' THEN 0 ELSE 3 END, 2, 0,
               CASE reason WHEN 'manual_calibration' THEN 'manual' WHEN 'no_calibration_products' THEN 'none'
                    ELSE 'pipeline' END,
               ARRAY[1, 2], reason IS DISTINCT FROM 'session_mismatch',
               CASE WHEN m % 20 = 0 THEN NULL
                    ELSE timestamp '2013-01-01' + (abs(hashtext('d' || m)) % 5400) * interval '1 day' END,
               reason IS NULL, reason, CASE WHEN reason IS NOT NULL THEN 'bench reason' END,
               CASE WHEN reason IS NULL THEN (SELECT started_at FROM sync_run WHERE run_id = since_run) END,
               CASE WHEN reason IS NULL THEN since_run END,
               since_run, 2
        FROM (
            SELECT m, format('uid://A001/X%s/X%s', to_hex(4096 + m / 256), to_hex(m % 256)) AS uid,
                   CASE WHEN bucket < 62 THEN NULL
                        WHEN bucket < 70 THEN 'manual_calibration'
                        WHEN bucket < 80 THEN 'no_calibration_products'
                        WHEN bucket < 85 THEN 'no_pass_ebs'
                        WHEN bucket < 90 THEN 'multiple_sbs'
                        WHEN bucket < 95 THEN 'session_mismatch'
                        ELSE 'deleted_ous' END AS reason,
                   -- Runs 97, 194, … failed (see sync_run): step back from those.
                   CASE WHEN m <= 30 THEN :runs
                        ELSE 1 + abs(hashtext('s' || m)) % (:runs - 1)
                             - ((1 + abs(hashtext('s' || m)) % (:runs - 1)) % 97 = 0)::int
                   END AS since_run
            FROM (SELECT m, CASE WHEN m <= 30 THEN 0 ELSE abs(hashtext('r' || m)) % 100 END AS bucket
                  FROM generate_series(1, :mous) AS m) AS numbered
        ) AS judged
    """)),
    # Four EBs in two sessions per MOUS; every fifth MOUS has a QA0 Fail EB.
    ("session_assignment", text("""
        INSERT INTO session_assignment (mous_uid, eb_uid, session_number, session_id, qa0_status,
                                        eb_start_time, position)
        SELECT format('uid://A001/X%s/X%s', to_hex(4096 + m / 256), to_hex(m % 256)),
               format('uid://A002/X%s/X%s', to_hex(m), eb), 1 + (eb - 1) / 2, m * 10 + 1 + (eb - 1) / 2,
               CASE WHEN eb = 3 AND m % 5 = 0 THEN 'Fail' ELSE 'Pass' END,
               timestamp '2015-01-01' + m * interval '1 hour' + eb * interval '1 minute', eb
        FROM generate_series(1, :mous) AS m, generate_series(1, 4) AS eb
    """)),
    # Twenty archived files per MOUS, two of them caltables.
    ("product_file", text("""
        INSERT INTO product_file (mous_uid, file_name, size_bytes, file_class)
        SELECT uid, CASE WHEN f <= 2 THEN format('member.%s.session_%s.caltables.tgz', file_uid, f)
                         ELSE format('member.%s.product_%s.fits', file_uid, f) END,
               1000000, CASE WHEN f <= 2 THEN 'calibration' ELSE 'science' END
        FROM (SELECT format('uid://A001/X%s/X%s', to_hex(4096 + m / 256), to_hex(m % 256)) AS uid,
                     format('uid___A001_X%s_X%s', to_hex(4096 + m / 256), to_hex(m % 256)) AS file_uid
              FROM generate_series(1, :mous) AS m) AS members,
             generate_series(1, 20) AS f
    """)),
    # Events in run order (event ids grow with runs, as a sync writes them). A sync that touches a MOUS
    # writes several events for it at once (its EBs, product files, sessions, status): :per_change
    # events per (MOUS, run); 2 % of the changes have no MOUS.
    ("change_event", text("""
        INSERT INTO change_event (run_id, table_name, row_key, mous_uid, kind, changed_columns, old_values,
                                  new_values)
        SELECT run_id,
               (ARRAY['execution_block', 'product_file', 'session_assignment', 'delivery',
                      'mous_status'])[1 + e % 5],
               format('uid://A002/X%s/X%s', to_hex(c), e),
               CASE WHEN c % 50 <> 0
                    THEN format('uid://A001/X%s/X%s', to_hex(4096 + m / 256), to_hex(m % 256)) END,
               'update', ARRAY['qa0_status'], '{"qa0_status": "Pending"}'::jsonb,
               '{"qa0_status": "Pass"}'::jsonb
        FROM (SELECT c, 1 + ((c - 1)::bigint * :runs) / (:events / :per_change) AS run_id,
                     1 + abs(hashtext('e' || c)) % :mous AS m
              FROM generate_series(1, :events / :per_change) AS c) AS changes,
             generate_series(1, :per_change) AS e
        WHERE run_id % 97 <> 0 OR run_id = :runs
        ORDER BY c, e
    """)),
    ("data_quality_issue", text("""
        INSERT INTO data_quality_issue (kind, mous_uid, subject, detail, first_seen_run_id,
                                        last_seen_run_id, resolved_run_id)
        SELECT (ARRAY['eb_null_end_time', 'duplicate_shiftlog', 'asa_missing_eb'])[1 + i % 3],
               format('uid://A001/X%s/X%s', to_hex(4096 + m / 256), to_hex(m % 256)), 'subject ' || i,
               'bench issue', 1, :runs, CASE WHEN i % 4 = 0 THEN :runs END
        FROM (SELECT i, 1 + abs(hashtext('q' || i)) % :mous AS m
              FROM generate_series(1, :issues) AS i) AS issues
    """)),
)
RESET_IDENTITIES = (
    text("SELECT setval(pg_get_serial_sequence('sync_run', 'run_id'), (SELECT max(run_id) FROM sync_run))"),
)


EXPLAIN_NODES = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
EXPLAIN_TOTAL = "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) "


class Explain(Executable, ClauseElement):
    """EXPLAIN ANALYZE (FORMAT JSON) of a Core query, its parameters still bound.

    Per-node timing is off unless asked for: with a subquery run once per MOUS, reading the clock around
    every node would cost more than the query.
    """

    inherit_cache = False

    def __init__(self, statement: Select[Any], node_timing: bool = False) -> None:
        self.statement = statement
        self.node_timing = node_timing


@compiles(Explain, "postgresql")
def _compile_explain(element: Explain, compiler: Any, **kw: Any) -> str:
    prefix = EXPLAIN_NODES if element.node_timing else EXPLAIN_TOTAL
    return prefix + str(compiler.process(element.statement, **kw))


@dataclass(frozen=True)
class Case:
    name: str
    query: Select[Any]


def cases(latest_run: int) -> list[Case]:
    one_project = "2017.1.00005.S"
    a_mous = "uid://A001/X1080/X1"
    return [
        Case("report restorable --format csv", restorable_query(RestorableFilter())),
        Case("report restorable (table columns)", restorable_query(RestorableFilter(), TABLE_COLUMNS)),
        Case(
            "report restorable --not-restorable --format csv",
            restorable_query(RestorableFilter(not_restorable=True)),
        ),
        Case(
            f"report restorable --project {one_project} --format csv",
            restorable_query(RestorableFilter(one_project)),
        ),
        Case("report restorable --array 7m --format csv", restorable_query(RestorableFilter(array="7m"))),
        Case(
            "SELECT mous_uid FROM restorable_mous WHERE restorable",
            select(restorable_mous.c.mous_uid).where(restorable_mous.c.restorable),
        ),
        Case("report newly-restorable", newly_restorable_query(None)),
        Case(f"report changes --run {latest_run}", changes_query(run_id=latest_run)),
        Case(
            "report changes --since (a week ago)",
            changes_query(since=datetime.now(UTC) - timedelta(days=7)),
        ),
        Case("report quality", quality_query(None)),
        Case(
            f"mous_sessions of {a_mous}",
            select(mous_sessions).where(mous_sessions.c.mous_uid == a_mous),
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query (default: 5)")
    parser.add_argument("--migrate", action="store_true", help="upgrade the mirror to head first")
    parser.add_argument("--explain", action="store_true", help="print every query's plan once")
    parser.add_argument(
        "--events-per-change", type=int, default=SCALE["per_change"],
        help="change events per (MOUS, run) when filling (default: %(default)s; 1 spreads every "
        "event over its own run, the worst case for the last-change lookup)",
    )
    args = parser.parse_args(argv)
    engine = create_mirror_engine(mirror_url(load_settings()), "almamirror-bench")
    try:
        if args.migrate:
            upgrade(engine)
        require_head(engine)
        fill(engine, {**SCALE, "per_change": args.events_per_change})
        with engine.connect() as connection:
            use_report_time_zone(connection)
            describe(connection)
            latest = connection.execute(select(func.max(table_of(SyncRun).c.run_id))).scalar_one()
            print(f"\n{'query':<52} {'rows':>7}  {'server ms (min/median/max)':>28}  "
                  f"{'fetch ms (min/median/max)':>27}")
            for case in cases(latest):
                time_case(connection, case, args.repeat, args.explain)
    finally:
        engine.dispose()
    return 0


def fill(engine: Engine, scale: dict[str, int]) -> None:
    """Fill an empty mirror; reuse one this script filled; refuse one that holds real syncs."""
    runs = table_of(SyncRun)
    with engine.connect() as connection:
        sources = set(connection.execute(select(runs.c.source).distinct()).scalars())
        statuses = connection.execute(select(func.count()).select_from(table_of(MousStatus))).scalar_one()
    if sources == {BENCH_SOURCE}:
        print(f"reusing the synthetic rows already in the mirror ({statuses:,} MOUSes)")
        return
    if sources or statuses:
        sys.exit("bench: this mirror holds real data; point ALMAMIRROR_MIRROR_URL at an empty database")
    with engine.begin() as connection:
        for table, statement in FILL:
            with stopwatch(f"fill {table}"):
                connection.execute(statement, {**scale, "source": BENCH_SOURCE})
        for statement in RESET_IDENTITIES:
            connection.execute(statement)
    # Fresh statistics and a visibility map, as autovacuum leaves a mirror between nightly syncs.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection, \
            stopwatch("vacuum analyze"):
        connection.execute(text("VACUUM ANALYZE"))


def describe(connection: Connection) -> None:
    """What was measured: row counts, the last-change index, the server's cache."""
    counts = connection.execute(text("""
        SELECT (SELECT count(*) FROM mous_status) AS mous, (SELECT count(*) FROM project) AS projects,
               (SELECT count(*) FROM sync_run) AS runs, (SELECT count(*) FROM change_event) AS events,
               (SELECT count(DISTINCT (mous_uid, run_id)) FROM change_event) AS changes,
               pg_size_pretty(pg_relation_size('ix_change_event_mous_uid_run_id')) AS last_change_index,
               current_setting('shared_buffers') AS shared_buffers, version() AS server
    """)).one()
    print(", ".join(f"{name} {value:,}" if isinstance(value, int) else f"{name} {value}"
                    for name, value in counts._mapping.items()))


def time_case(connection: Connection, case: Case, repeat: int, explain: bool) -> None:
    server: list[float] = []
    fetch: list[float] = []
    rows = 0
    if explain:
        plan = connection.execute(Explain(case.query, node_timing=True)).scalar_one()[0]
        print_plan(case.name, plan["Plan"])
    for _ in range(repeat):
        plan = connection.execute(Explain(case.query)).scalar_one()[0]
        server.append(plan["Execution Time"])
        started = time.perf_counter()
        rows = len(list(connection.execute(case.query).mappings()))
        fetch.append((time.perf_counter() - started) * 1000)
    print(f"{case.name:<52} {rows:>7,}  {spread(server):>28}  {spread(fetch):>27}")


def spread(times: list[float]) -> str:
    return f"{min(times):.1f} / {statistics.median(times):.1f} / {max(times):.1f}"


def print_plan(name: str, node: dict[str, Any], depth: int = 0) -> None:
    if depth == 0:
        print(f"\n-- {name}")
    label = " ".join(
        str(node[key]) for key in ("Node Type", "Index Name", "Relation Name", "Subplan Name") if key in node
    )
    print(f"{'  ' * depth}{label}  rows={node.get('Actual Rows')} loops={node.get('Actual Loops')} "
          f"ms={node.get('Actual Total Time')}")
    for child in node.get("Plans", []):
        print_plan(name, child, depth + 1)


@contextmanager
def stopwatch(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"{label}: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
