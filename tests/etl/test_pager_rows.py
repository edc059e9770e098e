"""The pager is used when the text takes more rows than the screen has, wrapped lines counted."""

from __future__ import annotations


def test_the_pager_counts_the_rows_a_wrapped_line_takes() -> None:
    from etl.terminal import screen_rows

    assert screen_rows("short\nlines\n", 80) == 2
    assert screen_rows("x" * 200 + "\n", 80) == 3  # wraps twice: three rows on the screen
    assert screen_rows("\x1b[1m" + "y" * 80 + "\x1b[0m\n", 80) == 1  # escapes take no room
    assert screen_rows("\n\n", 80) == 2
