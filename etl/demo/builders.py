"""Pieces both the fixed cases and the random population use to assemble a MOUS."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from random import Random
from typing import Final

from etl.demo.cycles import Cycle
from etl.demo.model import (
    ArrayName,
    Delivery,
    ExecBlock,
    Mous,
    Recipe,
    SchedBlock,
    Session,
)
from etl.demo.products import product_files, unparsable_caltables
from etl.demo.uids import Keys

PIPELINE_FLAGS: Final[dict[ArrayName, str]] = {
    "12m": "PipelineCalAndImg", "7m": "PipelineCalAndImg", "TP": "PipelineSingleDish",
}
MANUAL_FLAGS: Final[dict[ArrayName, str]] = {
    "12m": "ManualCalAndImg", "7m": "ManualCalAndImg", "TP": "ManualSingleDish",
}
# A session is opened a little before its first EB starts and closed a little after its last ends.
SESSION_LEAD: Final = timedelta(seconds=90)
SESSION_TAIL: Final = timedelta(seconds=30)
RELEASE_DELAY: Final = timedelta(days=365)


def millisecond(value: datetime) -> datetime:
    """ALMA keeps milliseconds; dropping the rest keeps XML and table timestamps identical."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def exec_block(
    uid: str,
    sb: SchedBlock,
    qa0: str,
    start: datetime,
    end: datetime | None,
    session_id: int | None,
    keys: Keys,
    shiftlog_rows: int = 1,
    exec_fraction: Decimal = Decimal(1),
) -> ExecBlock:
    """An EB with its shift-log entries numbered (EXECFRACTION < 1: it stopped early)."""
    ids = tuple(keys.shiftlog.allocate() for _ in range(shiftlog_rows))
    return ExecBlock(uid, sb, qa0, millisecond(start), None if end is None else millisecond(end),
                     exec_fraction, session_id, ids)


def session_around(session_id: int, ebs: list[ExecBlock], start_known: bool, end_known: bool) -> Session:
    """A session spanning its EBs; its end is unknown when its last EB's is."""
    first = min(eb.start for eb in ebs)
    last_end = max((eb.end for eb in ebs if eb.end is not None), default=None)
    ended = end_known and last_end is not None and all(eb.end is not None for eb in ebs)
    return Session(
        session_id,
        first - SESSION_LEAD if start_known else None,
        last_end + SESSION_TAIL if ended and last_end is not None else None,
        ebs,
    )


def recipe_flags(recipe: Recipe, array: ArrayName) -> str | None:
    """FLAGS for a recipe: the pipeline or manual substate of the array (NULL when not processed)."""
    if recipe is Recipe.MANUAL:
        return MANUAL_FLAGS[array]
    if recipe in (Recipe.PIPELINE, Recipe.UNSPLIT):
        return PIPELINE_FLAGS[array]
    return None


def last_observed(mous: Mous) -> datetime:
    """When the MOUS's last EB ended (or started, when its end is unknown)."""
    return max(eb.end or eb.start for eb in mous.all_ebs())


def deliver(
    mous: Mous,
    cycle: Cycle,
    sources: Sequence[str],
    rng: Random,
    keys: Keys,
    delivered: datetime,
    release: datetime | None,
    comment: str | None = None,
    renumber_caltables: bool = False,
    unparsable_product: bool = False,
) -> None:
    """Archive the MOUS's products and record its delivery (RELEASE_DATE NULL: never released)."""
    mous.products = product_files(mous, cycle, sources, rng, renumber_caltables)
    if unparsable_product:
        mous.products.append(unparsable_caltables(mous, cycle))
    mous.delivery = Delivery(keys.deliveries.allocate(), delivered, release, comment)
