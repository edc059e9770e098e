"""Properties of the merge, on the real PostgreSQL: for any mirror table contents and any staged rows,
the mirror ends equal to the stage, and the change events describe exactly the difference.

Values come from small domains, so that generated tables share keys and values often: rows to insert,
to update (with some columns equal, NULLs included) and to delete, and rows left alone, in one merge.
Each example runs in a transaction that is rolled back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Connection, Engine, MetaData, Table, Text, insert, literal_column, text

from etl.load.mapping import mirrored_tables
from etl.source.contract import CONTRACT
from etl.steps.merge import MergeTarget, merge
from etl.steps.stage import create_stage
from tests.conftest import DatabaseFactory, open_engine

# Database round trips vary in time: no deadline. A hundred examples of each take about 4 s.
MERGE_SETTINGS = settings(max_examples=100, deadline=None)
TIMES = [datetime(2019, 5, 1, 3, 4, 5), datetime(2019, 5, 1, 3, 4, 5, 500000), datetime(2021, 1, 1)]
# Product file names with the kind and session number PostgreSQL generates for them.
FILE_NAMES = {
    "member.uid___A001_X1_X2.session_1.caltables.tgz": ("caltables", 1),
    "member.uid___A001_X1_X2.session_2.caltables.tar.gz": ("caltables", 2),
    "uid___A002_X3_X4.ms.calapply.txt": ("calapply", None),
    "member.uid___A001_X1_X2.README": ("other", None),
}
MOUS_UIDS = ["uid://A001/X1/X2", "uid://A001/X1/X3", "uid://A001/X1/X4"]


@dataclass(frozen=True)
class Case:
    """A mirrored table, the domains its generated rows draw from, and how to read its values."""

    table: str
    columns: Mapping[str, st.SearchStrategy[Any]]
    generated: Mapping[str, Any]  # generated column → function of the row giving its value
    times: frozenset[str] = frozenset()


def maybe(*values: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from([None, *values])


EXECUTION_BLOCKS = Case(
    "execution_block",
    {
        "eb_uid": st.sampled_from([f"uid://A002/X1/X{n}" for n in range(6)]),
        "sb_uid": maybe("uid://A001/X9/X1", "uid://A001/X9/X2"),
        "project_code": maybe("2019.1.00001.S"),
        "qa0_status": maybe("Pass", "Fail", "SemiPass"),
        "start_time": maybe(*TIMES),
        "end_time": maybe(*TIMES),
        # 1 and 1.00 are the same number: not a change.
        "exec_fraction": maybe(Decimal("1"), Decimal("1.00"), Decimal("0.5")),
        "session_id": maybe(1, 2, 2**40),
    },
    generated={},
    times=frozenset({"start_time", "end_time"}),
)
PRODUCT_FILES = Case(
    "product_file",
    {
        "mous_uid": st.sampled_from(MOUS_UIDS),
        "file_name": st.sampled_from(sorted(FILE_NAMES)),
        "size_bytes": maybe(0, 1024, 2**40),
        "file_class": maybe("calibration", "science"),
    },
    generated={
        "kind": lambda row: FILE_NAMES[row["file_name"]][0],
        "session_number": lambda row: FILE_NAMES[row["file_name"]][1],
    },
)
MAPPINGS = {mapping.name: mapping for mapping in mirrored_tables(CONTRACT)}


@pytest.fixture(scope="module")
def connection(databases: DatabaseFactory, migrated_template: str) -> Iterator[Connection]:
    engine: Engine = open_engine(databases.create("merge_properties", template=migrated_template))
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def tables_of(case: Case) -> st.SearchStrategy[list[dict[str, Any]]]:
    key = MAPPINGS[case.table].key
    return st.lists(st.fixed_dictionaries(dict(case.columns)), max_size=8,
                    unique_by=lambda row: tuple(row[column] for column in key))


@dataclass(frozen=True)
class Outcome:
    rows: dict[tuple[Any, ...], dict[str, Any]]  # the mirror table after the merge, by key
    untouched: set[tuple[Any, ...]]  # keys whose row kept its physical tuple (never rewritten)
    events: list[dict[str, Any]]
    counts: tuple[int, int, int]


def run_merge(
    connection: Connection, case: Case, mirror: list[dict[str, Any]], staged: list[dict[str, Any]],
    record_events: bool, scope: list[str] | None = None,
) -> Outcome:
    mapping = MAPPINGS[case.table]
    table = mapping.target
    transaction = connection.begin()
    try:
        run_id = connection.execute(text(
            "INSERT INTO sync_run (status, \"full\", host, pid, source) "
            "VALUES ('running', false, 'test', 1, 'test') RETURNING run_id"
        )).scalar_one()
        if mirror:
            connection.execute(insert(table), mirror)
        before = _physical_tuples(connection, table.name, mapping.key)
        stage = create_stage(connection, table, mapping.loaded, mapping.key, table.name)
        if staged:
            connection.execute(insert(stage), staged)
        scope_table = None
        if scope is not None:
            scope_table = Table("merge_scope", MetaData(), Column("mous_uid", Text), prefixes=["TEMPORARY"])
            scope_table.create(connection)
            if scope:
                connection.execute(insert(scope_table), [{"mous_uid": uid} for uid in scope])
        target = MergeTarget(
            table=table, key=mapping.key, loaded=mapping.loaded, recorded=mapping.watch + mapping.link,
            scope=scope_table,
        )
        counts = merge(connection, target, stage, run_id, record_events)
        after = _physical_tuples(connection, table.name, mapping.key)
        columns = [*mapping.loaded, *case.generated]
        rows = {
            tuple(row[column] for column in mapping.key): {column: row[column] for column in columns}
            for row in connection.execute(table.select()).mappings()
        }
        events = [
            {
                "row_key": row_key, "mous_uid": mous_uid, "kind": kind, "changed_columns": changed,
                "old_values": _json(old), "new_values": _json(new),
            }
            for row_key, mous_uid, kind, changed, old, new in connection.execute(text(
                "SELECT row_key, mous_uid, kind, changed_columns, old_values::text, new_values::text "
                "FROM change_event WHERE run_id = :run"
            ), {"run": run_id})
        ]
    finally:
        transaction.rollback()
    untouched = {key for key, where in before.items() if after.get(key) == where}
    return Outcome(rows, untouched, events, (counts.inserted, counts.updated, counts.deleted))


def _physical_tuples(
    connection: Connection, table_name: str, key: tuple[str, ...]
) -> dict[tuple[Any, ...], str]:
    # ctid is where the row version lives: an UPDATE, even to equal values, writes a new version elsewhere.
    table = MAPPINGS[table_name].target
    statement = table.select().with_only_columns(*(table.c[c] for c in key), literal_column("ctid::text"))
    return {tuple(row[:-1]): row[-1] for row in connection.execute(statement)}


def _json(document: str | None) -> dict[str, Any] | None:
    # Decimals stay exact; timestamps are compared after parsing (PostgreSQL trims trailing zeros).
    return None if document is None else json.loads(document, parse_float=Decimal)


def recorded_values(row: Mapping[str, Any] | None, columns: tuple[str, ...]) -> dict[str, Any] | None:
    """The values of ``columns`` of a full row, as a change event should carry them."""
    return None if row is None else {column: row[column] for column in dict.fromkeys(columns)}


def parsed(case: Case, values: dict[str, Any] | None) -> tuple[tuple[str, Any], ...] | None:
    """Recorded values in key order, timestamps as datetimes whether they came as JSON text or not."""
    if values is None:
        return None
    return tuple(sorted(
        (column, datetime.fromisoformat(value) if column in case.times and isinstance(value, str) else value)
        for column, value in values.items()
    ))


def full_row(case: Case, row: Mapping[str, Any]) -> dict[str, Any]:
    return {**row, **{column: value_of(row) for column, value_of in case.generated.items()}}


def expected_outcome(
    case: Case, mirror: list[dict[str, Any]], staged: list[dict[str, Any]], scope: list[str] | None
) -> tuple[dict[tuple[Any, ...], dict[str, Any]], list[dict[str, Any]], set[tuple[Any, ...]]]:
    """The mirror, the events and the rows left alone, worked out row by row in Python."""
    mapping = MAPPINGS[case.table]
    recorded = mapping.watch + mapping.link
    old = {tuple(row[c] for c in mapping.key): full_row(case, row) for row in mirror}
    new = {tuple(row[c] for c in mapping.key): full_row(case, row) for row in staged}
    kept = {
        key: row for key, row in old.items()
        if key not in new and scope is not None and row["mous_uid"] not in scope
    }
    events = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if after is None:
            if key not in kept:
                events.append(event(recorded, key, "delete", None, before, None))
        elif before is None:
            events.append(event(recorded, key, "insert", None, None, after))
        elif changed := [column for column in mapping.compared if after[column] != before[column]]:
            events.append(event(recorded, key, "update", changed, before, after))
    # No event, no write: an unchanged row, or one outside the scope.
    unchanged = {key for key in old if row_key(key) not in {found["row_key"] for found in events}}
    return {**kept, **new}, events, unchanged


def row_key(key: tuple[Any, ...]) -> str:
    return " ".join(str(part) for part in key)  # composite keys joined by a space


def event(
    recorded: tuple[str, ...], key: tuple[Any, ...], kind: str, changed: list[str] | None,
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One change event as the merge should write it: an update also carries the old and new value of
    every column it changed (these tables hold no whole documents, which an event only names)."""
    row = after if after is not None else before
    assert row is not None
    if kind == "update":
        recorded = (*recorded, *(column for column in changed or () if column not in recorded))
    return {
        "row_key": row_key(key),
        "mous_uid": row.get("mous_uid"),
        "kind": kind,
        "changed_columns": changed,
        "old_values": recorded_values(before, recorded),
        "new_values": recorded_values(after, recorded),
    }


def comparable(case: Case, events: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Events in a stable order, changed columns as a set, values parsed: equal lists, equal events."""
    normalised = [
        (
            found["kind"], found["row_key"], found["mous_uid"],
            None if found["changed_columns"] is None else tuple(sorted(found["changed_columns"])),
            parsed(case, found["old_values"]), parsed(case, found["new_values"]),
        )
        for found in events
    ]
    return sorted(normalised, key=lambda found: (found[0], found[1]))


def check(
    connection: Connection, case: Case, mirror: list[dict[str, Any]], staged: list[dict[str, Any]],
    record_events: bool, scope: list[str] | None = None,
) -> None:
    outcome = run_merge(connection, case, mirror, staged, record_events, scope)
    rows, events, unchanged = expected_outcome(case, mirror, staged, scope)
    assert outcome.rows == rows
    kinds = [found["kind"] for found in events]
    assert outcome.counts == (kinds.count("insert"), kinds.count("update"), kinds.count("delete"))
    if record_events:
        assert comparable(case, outcome.events) == comparable(case, events)
        for found in outcome.events:  # each changed column once, in no particular order
            changed = found["changed_columns"]
            assert changed is None or len(set(changed)) == len(changed)
    else:
        assert outcome.events == []
    # Rows the merge had no reason to touch keep their physical tuple: no dead rows, no WAL.
    assert unchanged <= outcome.untouched


@MERGE_SETTINGS
@given(mirror=tables_of(EXECUTION_BLOCKS), staged=tables_of(EXECUTION_BLOCKS), record_events=st.booleans())
def test_merging_execution_blocks_makes_the_mirror_the_source_and_records_the_difference(
    connection: Connection, mirror: list[dict[str, Any]], staged: list[dict[str, Any]], record_events: bool
) -> None:
    check(connection, EXECUTION_BLOCKS, mirror, staged, record_events)


@MERGE_SETTINGS
@given(
    mirror=tables_of(PRODUCT_FILES), staged=tables_of(PRODUCT_FILES),
    scope=st.none() | st.lists(st.sampled_from(MOUS_UIDS), unique=True),
)
def test_merging_product_files_keeps_rows_outside_the_scope_and_records_the_difference(
    connection: Connection,
    mirror: list[dict[str, Any]],
    staged: list[dict[str, Any]],
    scope: list[str] | None,
) -> None:
    """A composite key, generated columns in the events, and deletes limited to the MOUSes in scope."""
    check(connection, PRODUCT_FILES, mirror, staged, record_events=True, scope=scope)
