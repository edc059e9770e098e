"""What a restore opens in the demo's products, in their real formats instead of random bytes.

For every pipeline-calibrated MOUS: each session's caltables archive holds one calibration table per
measurement set calibrated in it (``<eb>.ms.hifa_bandpass….bcal.tbl/…``, the member names the restore
extracts by); each EB's flagversions archive holds ``<eb>.ms.flagversions/flags.Pipeline_Final/…`` and
``FLAG_VERSION_LIST``; each EB's calapply file is the ``applycal(vis='<eb>.ms', …)`` line that applies
that table. They are small (a real caltables archive is hundreds of MB) and the same for the same
MOUS every time: tar and gzip headers carry fixed times and owners. The stand-in NGAS serves them as
they are, and ASA_PRODUCT_FILES lists their real sizes.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Final

from etl.archive_names import DISK_NAME, MEMBER_PREFIX, disk_name
from etl.demo.calibration_documents import Calibration, calibration_of
from etl.demo.model import Mous, ProductFile, Project, Recipe, RecordForm, ScienceGoal
from etl.demo.products import SPECTRAL_WINDOWS

_CALTABLES: Final = re.compile(r"\.session_(\d+)\.caltables\.(tgz|tar\.gz)$")
_PER_EB: Final = re.compile(
    rf"^(?P<eb>{DISK_NAME.pattern})\.ms\.(?P<product>flagversions\.(?:tgz|tar\.gz)|calapply\.txt)$"
)
FINAL_FLAGS: Final = "flags.Pipeline_Final"
FLAG_VERSION_LIST: Final = "Pipeline_Final : Final pipeline flags\n"
# A CASA table directory, reduced to its description and its type: enough for what a restore looks for.
_TABLE_FILES: Final = ("table.dat", "table.info")
_FIXED_TIME: Final = int(datetime(2020, 1, 1, tzinfo=UTC).timestamp())
_BLOCK: Final = 512
_NAME_BYTES: Final = 100


def attach_restore_products(project: Project) -> None:
    """Give every pipeline MOUS's caltables, flagversions and calapply files their content and size."""
    for goal in project.goals:
        for mous in goal.mouses:
            if mous.recipe is Recipe.PIPELINE and mous.products and mous.record is not RecordForm.REAL:
                _attach(project, goal, mous)


def _attach(project: Project, goal: ScienceGoal, mous: Mous) -> None:
    calibration = calibration_of(project, goal, mous)
    sessions = {session.number: session.eb_uids for session in calibration.sessions}
    home = {disk_name(uid): number for number, uids in sessions.items() for uid in uids}
    windows = SPECTRAL_WINDOWS[mous.array]
    for product in mous.products:
        content = _content(product, sessions, home, calibration, windows)
        if content is not None:
            product.content = content
            product.size = len(content)


def _content(
    product: ProductFile,
    sessions: dict[int, tuple[str, ...]],
    home: dict[str, int],
    calibration: Calibration,
    windows: tuple[int, ...],
) -> bytes | None:
    name = product.name.removeprefix(MEMBER_PREFIX)
    caltables = _CALTABLES.search(name)
    if caltables is not None and name.startswith(calibration.mous_disk):
        eb_uids = sessions.get(int(caltables.group(1)))
        return None if eb_uids is None else caltables_archive([disk_name(uid) for uid in eb_uids], windows)
    per_eb = _PER_EB.match(name)
    if per_eb is None or per_eb.group("eb") not in home:
        return None
    eb = per_eb.group("eb")
    if per_eb.group("product").startswith("flagversions"):
        return flagversions_archive(eb)
    return calapply_text(eb, windows)


def bandpass_table(eb: str, windows: tuple[int, ...]) -> str:
    """The name of an EB's calibration table, as the pipeline names a bandpass solution."""
    return f"{eb}.ms.hifa_bandpass.s6_3.spw{'_'.join(map(str, windows))}.channel.solintinf.bcal.tbl"


def caltables_archive(eb_disks: list[str], windows: tuple[int, ...]) -> bytes:
    """A session's caltables: one table directory per measurement set calibrated in it."""
    files = [
        (f"{bandpass_table(eb, windows)}/{member}", _table_bytes(eb, member))
        for eb in eb_disks
        for member in _TABLE_FILES
    ]
    return _tgz(files)


def flagversions_archive(eb: str) -> bytes:
    """An EB's final flags as the pipeline exports them."""
    directory = f"{eb}.ms.flagversions"
    files = [(f"{directory}/{FINAL_FLAGS}/{member}", _table_bytes(eb, member)) for member in _TABLE_FILES]
    files.append((f"{directory}/FLAG_VERSION_LIST", FLAG_VERSION_LIST.encode("ascii")))
    return _tgz(files)


def calapply_text(eb: str, windows: tuple[int, ...]) -> bytes:
    """An EB's calibration state: the applycal command that applies its table."""
    spw = ",".join(map(str, windows))
    return (
        f"# Apply file for {eb}.ms\n"
        f"applycal(vis='{eb}.ms', field='', intent='', spw='{spw}', antenna='', "
        f"gaintable='{bandpass_table(eb, windows)}', gainfield='', spwmap=[], "
        "interp='linearperobs,linearflag', calwt=True)\n"
    ).encode("ascii")


def _table_bytes(eb: str, member: str) -> bytes:
    return f"{member} of a calibration table of {eb}.ms (almamirror demo)\n".encode("ascii")


def _tgz(files: list[tuple[str, bytes]]) -> bytes:
    """A gzip tar archive of ``files`` with their directories, byte-identical for the same input.

    The ustar headers are written here rather than by ``tarfile``: an ALMA-sized archive has a hundred
    thousand of these, and ``tarfile`` would triple the demo's generation time. ``tarfile`` reads them.
    """
    blocks: list[bytes] = []
    for path, content in _with_directories(files):
        blocks.append(_header(path, content))
        if content:
            blocks.append(content + bytes(-len(content) % _BLOCK))
    blocks.append(bytes(2 * _BLOCK))
    # A gzip stream (wbits 16 + 9: a 512-byte window, little memory): these archives are a few kB, and
    # setting up zlib's default 32 kB window costs more than compressing them.
    compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + 9, 1)
    return compressor.compress(b"".join(blocks)) + compressor.flush()


def _header(path: str, content: bytes | None) -> bytes:
    prefix, name = "", path
    if len(path) > _NAME_BYTES:
        prefix, _, name = path.rpartition("/")
    directory = content is None
    fields = (
        name.encode("ascii").ljust(_NAME_BYTES, b"\0"),
        b"0000755\0" if directory else b"0000644\0",
        b"0000000\0", b"0000000\0",
        b"%011o\0" % (0 if content is None else len(content)),
        b"%011o\0" % _FIXED_TIME,
        b" " * 8,
        b"5" if directory else b"0",
        bytes(_NAME_BYTES),
        b"ustar\x0000",
        bytes(32), bytes(32), b"0000000\0", b"0000000\0",
        prefix.encode("ascii").ljust(155, b"\0"),
    )
    header = b"".join(fields).ljust(_BLOCK, b"\0")
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def _with_directories(files: list[tuple[str, bytes]]) -> Iterator[tuple[str, bytes | None]]:
    seen: set[str] = set()
    for path, content in files:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in seen:
                seen.add(directory)
                yield directory, None
        yield path, content
