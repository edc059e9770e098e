"""Test helpers for migration tests: the revision history as Alembic's script directory has it, and a
snapshot of the schema a revision leaves behind.

Tests name no head revision: a new migration file changes what ``head_revision()`` and
``revision_chain()`` answer, and every test built on them goes on working.
"""

from __future__ import annotations

from typing import Any

from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from etl import migrations


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(migrations.alembic_config())


def revision_chain() -> list[str]:
    """Every revision id from the first to the head, in upgrade order (the history is linear)."""
    newest_first = list(script_directory().walk_revisions("base", "heads"))
    return [revision.revision for revision in reversed(newest_first)]


def head_revision() -> str:
    (head,) = script_directory().get_heads()
    return head


def down_revision(revision: str) -> str:
    """The revision just below ``revision`` ('base' below the first)."""
    below = script_directory().get_revision(revision).down_revision
    assert below is None or isinstance(below, str), f"{revision} is a merge of {below}"
    return below or "base"


# Everything a migration can create in the mirror's schema, each as comparable text. Column positions
# are left out: a column dropped and added again is the same column in a later position.
SNAPSHOT_QUERIES = {
    "relations": """
        SELECT c.relname, c.relkind::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()
    """,
    "columns": """
        SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default,
               is_generated, generation_expression, is_identity, identity_generation
        FROM information_schema.columns WHERE table_schema = current_schema()
    """,
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
        JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()
    """,
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
    "views": "SELECT viewname, definition FROM pg_views WHERE schemaname = current_schema()",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), md5(p.prosrc) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()
    """,
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND NOT t.tgisinternal
    """,
    "types": """
        SELECT t.typname, t.typtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = current_schema() AND t.typtype IN ('e', 'd', 'c')
          AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)
    """,
    "comments": """
        SELECT c.relname, d.objsubid, d.description FROM pg_description d
        JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema()
    """,
    "table_grants": """
        SELECT grantee, table_name, privilege_type FROM information_schema.role_table_grants
        WHERE table_schema = current_schema()
    """,
    "schema_grants": "SELECT coalesce(nspacl::text, '') FROM pg_namespace WHERE nspname = current_schema()",
    "default_grants": """
        SELECT d.defaclobjtype::text, coalesce(n.nspname, ''), d.defaclacl::text FROM pg_default_acl d
        LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace
        WHERE d.defaclnamespace = 0 OR n.nspname = current_schema()
    """,
}
# Alembic's own bookkeeping table: created by the first upgrade and left, empty, by a downgrade to base.
ALEMBIC_TABLES = frozenset({"alembic_version", "alembic_version_pkc"})


def schema_snapshot(connection: Connection) -> dict[str, frozenset[tuple[Any, ...]]]:
    """The schema as the database has it: equal snapshots mean no migration left a trace."""
    snapshot = {}
    for part, query in SNAPSHOT_QUERIES.items():
        found = {tuple(row) for row in connection.execute(text(query))}
        snapshot[part] = frozenset(row for row in found if not ALEMBIC_TABLES & set(map(str, row)))
    return snapshot
