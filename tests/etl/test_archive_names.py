"""The archive's naming rules where SQL and Python must agree: the verdict names products in SQL
exactly as the request directory and the calibration record name them in Python."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Text, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

from etl import archive_names
from etl.archive_names import MEMBER_PREFIX, OLD_TAR_SUFFIX, TAR_SUFFIX, restore_name
from etl.derive import restorability
from tests.conftest import DatabaseFactory, open_engine

# Pieces that meet the rule's edges (a prefix twice, a suffix twice or cut short, LIKE's wildcards and
# escape, a case that differs), mixed with any text PostgreSQL stores (no NUL, no lone surrogate).
PIECES = (
    MEMBER_PREFIX, OLD_TAR_SUFFIX, TAR_SUFFIX, "member", "Member.", ".tar", ".gz", "tar.gz", ".", "%", "_",
    "\\", "/", "uid___A001_X1_X2", ".session_1.caltables", ".ms.flagversions",
)
any_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=6)
names = st.lists(st.one_of(st.sampled_from(PIECES), any_text), max_size=6).map("".join)


def test_the_naming_rules_import_only_the_standard_library() -> None:
    """ppr's core and etl.calibration import the rules: they must bring nothing else with them."""
    tree = ast.parse(Path(archive_names.__file__).read_text("utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported
    assert sorted(name for name in imported if name.split(".")[0] not in sys.stdlib_module_names) == []


@pytest.fixture(scope="module")
def connection(databases: DatabaseFactory) -> Iterator[Connection]:
    engine = open_engine(databases.create("archive_names"))
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def in_postgresql(connection: Connection, archived: list[str]) -> list[str]:
    """``restorability.restore_name`` of each name, in one query, in the given order."""
    unnested = func.unnest(literal(archived, ARRAY(Text)))
    listed = unnested.table_valued("name", with_ordinality="position").render_derived()
    query = select(restorability.restore_name(listed.c.name)).order_by(listed.c.position)
    return list(connection.execute(query).scalars())


# Database round trips vary in time: no deadline. Each example checks up to twenty names in one query.
@settings(max_examples=200, deadline=None)
@given(st.lists(names, min_size=1, max_size=20))
@example(["member.", ".tar.gz", "member..tar.gz", "member.member.x.tar.gz", "x.tar.gz.tar.gz", "x.TAR.GZ"])
@example(["member%x.tar_gz", "membe.x.tar.gz", "\\member.x.tar.gz", "Ω.tar.gz", "member.é.tar.gz"])
def test_postgresql_names_restore_products_as_python_does(
    connection: Connection, archived: list[str]
) -> None:
    assert in_postgresql(connection, archived) == [restore_name(name) for name in archived]
