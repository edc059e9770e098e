"""``almamirror source …``: the stand-in source database (never ALMA's own)."""

from __future__ import annotations

import argparse
from typing import Any

from etl.cli.confirm import confirm
from etl.settings import Settings


def register(subparsers: Any) -> None:
    source = subparsers.add_parser(
        "source", help="create and fill the ALMA source stand-in",
        description="Create the ALMA contract tables in a PostgreSQL stand-in and fill them with a "
        "deterministic demo archive. Refuses to write to an Oracle (ALMA) source.",
    )
    actions = source.add_subparsers(dest="action", metavar="ACTION", required=True)

    init = actions.add_parser(
        "init", help="create the contract tables, empty (idempotent)",
        description="Create the schema and every contract table that is missing, empty.",
    )
    init.set_defaults(run=run_init)

    demo = actions.add_parser(
        "demo", help="fill the stand-in with a deterministic synthetic ALMA archive",
        description="Replace the stand-in's contents with a synthetic ALMA archive. The same scale "
        "and seed always give the same rows.",
    )
    add_demo_arguments(demo)
    demo.set_defaults(run=run_demo)


def add_demo_arguments(parser: argparse.ArgumentParser, default_scale: str | None = "small") -> None:
    from etl.demo.scales import DEFAULT_SEED, SCALES

    default = (
        f"default: {default_scale}" if default_scale
        else "default: the archive the source holds, else small"
    )
    parser.add_argument(
        "--scale", choices=tuple(SCALES), default=default_scale,
        # From the scale table itself: a figure typed here drifted from what the demo builds.
        help="; ".join(f"{spec.name}: {spec.mous_count:,} MOUSes" for spec in SCALES.values())
        + f" ({default})",
    )
    parser.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )


def run_init(args: argparse.Namespace, settings: Settings) -> int:
    from etl.database import source_engine
    from etl.logs import mask_url
    from etl.source.admin import init_source
    from etl.source.contract import build_contract

    with source_engine(settings) as engine:
        created = init_source(engine, build_contract(settings.source.column_names), settings.source.schema)
    what = f"created {len(created)} table(s)" if created else "all contract tables already present"
    confirm(args, f"source init: {what} in {mask_url(engine.url)} schema {settings.source.schema}")
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from etl.database import source_engine
    from etl.demo.fill import fill_demo_archive
    from etl.logs import mask_url
    from etl.source.contract import build_contract

    with source_engine(settings) as engine:
        summary = fill_demo_archive(
            engine, build_contract(settings.source.column_names), settings.source.schema,
            scale=args.scale, seed=args.seed,
        )
    confirm(args, f"source demo: {summary.describe()} in {mask_url(engine.url)}")
    return 0
