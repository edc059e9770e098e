"""A report's rows, the columns machines get, the columns people see, and the summary line."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import Connection, Select

from etl.output import NO_LAYOUT, PLAIN, Layout, TableView, choose_columns, write_rows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Report:
    rows: Iterable[Mapping[str, Any]]
    columns: Sequence[str]
    """Every column of the view, in its order: what csv and json carry."""
    summary: str
    table_columns: Sequence[str] | None = None
    """The narrower choice an aligned table shows (csv and json have them all)."""
    layout: Layout = NO_LAYOUT
    """Which columns give way first on a narrow terminal."""

    @property
    def available(self) -> tuple[str, ...]:
        """What --columns may name: every column, and those only a table shows (e.g. a change cell)."""
        return tuple(dict.fromkeys([*self.columns, *(self.table_columns or ())]))


def write_report(report: Report, fmt: str, stream: TextIO, view: TableView = PLAIN) -> None:
    """The report in ``fmt``: a table ends with its summary line; csv and json carry only rows."""
    default = report.table_columns if fmt == "table" and report.table_columns else report.columns
    columns = choose_columns(view, report.available, default)
    write_rows(report.rows, columns, fmt, stream, summary=report.summary, view=view, layout=report.layout)


def fetch(connection: Connection, query: Select[Any]) -> list[dict[str, Any]]:
    started = time.perf_counter()
    rows = [dict(row) for row in connection.execute(query).mappings()]
    source = ",".join(sorted({str(table) for table in query.get_final_froms()}))
    log.debug("report.fetched from=%s rows=%d seconds=%.3f", source, len(rows), time.perf_counter() - started)
    return rows


class StreamedRows:
    """A query's rows, fetched through a server-side cursor every time they are iterated.

    Iterable more than once (an aligned table measures its columns, then writes them): in a report's
    read-only snapshot every pass sees the same rows. ``describe`` adds derived cells to each row.
    """

    def __init__(
        self,
        connection: Connection,
        query: Select[Any],
        describe: Callable[[dict[str, Any]], None] | None = None,
        batch_rows: int = 2_000,
    ) -> None:
        self.connection = connection
        self.query = query
        self.describe = describe
        self.batch_rows = batch_rows

    def __iter__(self) -> Iterator[dict[str, Any]]:
        started = time.perf_counter()
        count = 0
        result = self.connection.execute(self.query, execution_options={"yield_per": self.batch_rows})
        try:
            for mapping in result.mappings():
                row = dict(mapping)
                if self.describe is not None:
                    self.describe(row)
                count += 1
                yield row
        finally:
            result.close()
        log.debug("report.streamed rows=%d seconds=%.3f", count, time.perf_counter() - started)


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """'1 MOUS', '2 MOUSes', '1,234 changes'."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def counted(counts: Mapping[str, int]) -> str:
    """'manual_calibration 2, no_pass_ebs 5': the non-zero counts, in the mapping's order."""
    return ", ".join(f"{name} {count:,}" for name, count in counts.items() if count)
