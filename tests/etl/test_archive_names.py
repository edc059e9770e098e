"""The archive's naming rules where SQL and Python must agree: the verdict names products in SQL
exactly as the request directory and the calibration record name them in Python."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Text, func, literal, select
from sqlalchemy.dialects.postgresql import ARRAY

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
    """ppr's core and etl.calibration import the rules: they must bring nothing else with them (the one
    project module they use, etl.errors, for the error a bad UID raises, holds only the standard library)."""
    probe = (
        "import sys\n"
        "before = set(sys.modules)\n"
        "import etl.archive_names\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = done.stdout.split()  # what the import brought, not what the interpreter starts with
    assert "etl.archive_names" in loaded
    project = {name for name in loaded if name.split(".")[0] == "etl"}
    assert project <= {"etl", "etl.archive_names", "etl.errors"}, sorted(project)
    others = [name for name in loaded if name.split(".")[0] not in sys.stdlib_module_names | {"etl"}]
    assert others == [], others


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
