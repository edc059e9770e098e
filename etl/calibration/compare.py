"""Does an archived session map agree with the mirror's? The same EBs under the same session numbers.

The order inside a session does not matter, and a session without calibrated EBs is absent from the
manifest and the restore script, so only EBs are compared: where each one is on either side.
EBs are matched by disk name (``uid___A002_…``), as the pipeline matches them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from etl.archive_names import disk_name

# How a person reads each document's name in a reason.
DOCUMENT_LABELS = {"manifest": "the manifest", "restore_script": "the restore script",
                   "request": "the archived PPR"}


@dataclass(frozen=True)
class EbDifference:
    """One EB placed differently: a session is None on the side that does not have the EB."""

    eb: str  # the mirror's UID when the mirror has the EB, else the document's spelling
    mirror_session: int | None
    archived_session: int | None


def eb_differences(
    mirror: Mapping[int, Sequence[str]], archived: Mapping[int, Sequence[str]]
) -> list[EbDifference]:
    """Every EB whose session differs, or that one side lacks; [] when the maps agree."""
    ours, theirs = _homes(mirror), _homes(archived)
    found = []
    for disk in ours.keys() | theirs.keys():
        our_uid, our_session = ours.get(disk, (None, None))
        their_uid, their_session = theirs.get(disk, (None, None))
        if our_session != their_session:
            eb = our_uid or their_uid or disk
            found.append(EbDifference(eb, our_session, their_session))
    return sorted(found, key=_order)


def describe(differences: Mapping[str, Sequence[EbDifference]], names: Mapping[str, str]) -> list[str]:
    """One clause per difference, the documents that say so named together.

    ``differences`` is keyed by document kind; ``names`` gives each document's file name.
    """
    said_by: dict[EbDifference, list[str]] = {}
    for kind, found in sorted(differences.items(), key=lambda item: _kind_order(item[0])):
        for difference in found:
            said_by.setdefault(difference, []).append(kind)
    return [_clause(difference, said_by[difference], names) for difference in sorted(said_by, key=_order)]


def _order(difference: EbDifference) -> tuple[int, str, int, int]:
    ours, theirs = difference.mirror_session, difference.archived_session
    return (ours or theirs or 0, difference.eb, ours or 0, theirs or 0)


def _kind_order(kind: str) -> int:
    kinds = list(DOCUMENT_LABELS)
    return kinds.index(kind) if kind in kinds else len(kinds)


def _clause(difference: EbDifference, kinds: Iterable[str], names: Mapping[str, str]) -> str:
    where = _documents(kinds, names)
    ours, theirs, eb = difference.mirror_session, difference.archived_session, difference.eb
    if ours is not None and theirs is not None:
        return f"EB {eb} is in SESSION_{ours} in the mirror but in session_{theirs} in {where}"
    if theirs is None:
        return f"EB {eb} (SESSION_{ours} in the mirror) is not in {where}"
    return f"EB {eb} is in session_{theirs} in {where} but not among the mirror's Pass EBs"


def _documents(kinds: Iterable[str], names: Mapping[str, str]) -> str:
    labels = [f"{DOCUMENT_LABELS.get(kind, kind)} {names[kind]}" if kind in names
              else DOCUMENT_LABELS.get(kind, kind) for kind in kinds]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def _homes(mapping: Mapping[int, Sequence[str]]) -> dict[str, tuple[str, int]]:
    # An EB named twice keeps its lowest session, as the pipeline's reader does.
    homes: dict[str, tuple[str, int]] = {}
    for number in sorted(mapping):
        for eb in mapping[number]:
            homes.setdefault(disk_name(eb), (eb, number))
    return homes
