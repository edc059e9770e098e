"""One line of ``almamirror check``: what was checked, whether it passed, what was found, the fix."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, Final

SOURCE: Final = "source"
MIRROR: Final = "mirror"
ARCHIVE: Final = "archive"


@dataclass(frozen=True)
class Item:
    """One checked thing: ``detail`` says what was found, ``fix`` what to do when it failed."""

    area: str
    name: str
    ok: bool
    detail: str
    fix: str | None = None

    def line(self) -> str:
        """``✓ source aqua_ous: …`` or ``✗ … — fix: …``: the form a person reads."""
        mark = "✓" if self.ok else "✗"
        fix = f" — fix: {self.fix}" if self.fix and not self.ok else ""
        return printable(f"{mark} {self.area} {self.name}: {self.detail}{fix}")

    def as_json(self) -> dict[str, Any]:
        return {"area": self.area, "name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def passed(item_ok: bool, area: str, name: str, detail: str, fix: str) -> Item:
    """An item whose fix is kept only when it failed."""
    return Item(area, name, item_ok, detail, None if item_ok else fix)


def printable(text: str) -> str:
    """``text`` on one line with its control characters escaped (``\\x1b``, ``\\n``): details quote what
    servers answered, and a line must neither break nor drive the terminal."""
    return "".join(
        ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf") else ch
        for ch in text
    )
