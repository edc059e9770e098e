"""ASA_PRODUCT_FILES for one MOUS: the names real deliveries use, by recipe, array and cycle.

Names follow CONTRACT.md: MOUS-level files are ``<prefix><mous>.<rest>`` (``member.`` from Cycle 5 on),
per-EB files ``<eb>.ms.<rest>`` without prefix, archives ``.tgz`` from Cycle 4 on and ``.tar.gz`` before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from random import Random
from typing import Final

from etl.demo.cycles import Cycle
from etl.demo.model import (
    ARRAYS,
    ArrayName,
    ExecBlock,
    Mous,
    ProductFile,
    Recipe,
    RecordForm,
    calibrated_session_numbers,
    ordered_sessions,
    pass_ebs,
)
from etl.demo.uids import file_form


@dataclass(frozen=True)
class FileKind:
    """A kind of product file: its FILE_CLASS and a log-normal size (median bytes, spread)."""

    file_class: str
    median_bytes: float
    spread: float


# What a restore fetches (caltables, calapply, flagversions, the manifest) is kept small — a real
# caltables archive is hundreds of MB — so a restore of the demo archive is tens of MB: the stand-in NGAS
# serves every file at exactly this size. The calibration documents get the size of their content.
KINDS: Final = {
    "caltables": FileKind("calibration", 1.5e6, 0.5),
    "auxcaltables": FileKind("auxiliary", 2e6, 1.0),
    "calapply": FileKind("calibration", 6e3, 0.5),
    "flagversions": FileKind("calibration", 3e5, 0.6),
    "manifest": FileKind("calibration", 12e3, 0.4),
    "request": FileKind("script", 4e3, 0.2),
    "script": FileKind("script", 30e3, 0.6),
    "weblog": FileKind("qa", 200e6, 0.9),
    "qa_report": FileKind("qa", 1.2e6, 0.6),
    "readme": FileKind("auxiliary", 4e3, 0.3),
    "log": FileKind("log", 3e6, 1.0),
    "auxproducts": FileKind("auxiliary", 80e6, 1.2),
    "cube": FileKind("science", 800e6, 1.3),
    "continuum": FileKind("science", 30e6, 1.0),
    "primary_beam": FileKind("science", 40e6, 1.0),
    "mask": FileKind("science", 1e6, 1.0),
}

# The recipe of a first calibration that a re-processing with the full recipe superseded.
EARLIER_RECIPES: Final = {"hifa_calimage": "hifa_cal", "hsd_calimage": "hsd_cal"}

SPECTRAL_WINDOWS: Final[dict[ArrayName, tuple[int, ...]]] = {
    "12m": (25, 27, 29, 31),
    "7m": (16, 18, 20, 22),
    "TP": (17, 19, 21, 23),
}


class ProductNamer:
    """Builds one MOUS's file names and sizes for its cycle's conventions."""

    def __init__(self, mous: Mous, cycle: Cycle, rng: Random) -> None:
        self.mous = mous
        self.cycle = cycle
        self.rng = rng
        self.stem = cycle.member_prefix + file_form(mous.uid)
        self.archive = cycle.archive_suffix
        self.recipe_name = ARRAYS[mous.array].pipeline_recipe
        self.files: list[ProductFile] = []

    def add(self, name: str, kind: str) -> None:
        spec = KINDS[kind]
        size = int(self.rng.lognormvariate(math.log(spec.median_bytes), spec.spread)) + 1
        file_class = spec.file_class if self.cycle.classifies_files else None
        self.files.append(ProductFile(name, size, file_class))

    def mous_file(self, rest: str, kind: str) -> None:
        self.add(f"{self.stem}.{rest}", kind)

    def caltables(self, session_numbers: Sequence[int]) -> None:
        for number in session_numbers:
            self.mous_file(f"session_{number}.caltables{self.archive}", "caltables")
            self.mous_file(f"session_{number}.auxcaltables{self.archive}", "auxcaltables")

    def per_eb_calibration(self, ebs: Sequence[ExecBlock]) -> None:
        for eb in ebs:
            self.add(f"{file_form(eb.uid)}.ms.calapply.txt", "calapply")
            self.add(f"{file_form(eb.uid)}.ms.flagversions{self.archive}", "flagversions")

    def pipeline_run(self) -> None:
        recipe = self.recipe_name
        if self.mous.record is RecordForm.TWO_CALIBRATIONS:
            self.record_documents(EARLIER_RECIPES[recipe])
        if self.mous.record is not RecordForm.NONE:
            self.record_documents(recipe)
        self.mous_file(f"{recipe}.casa_pipescript.py", "script")
        self.mous_file(f"{recipe}.weblog{self.archive}", "weblog")
        self.mous_file(f"{recipe}.casa_commands.log", "log")
        self.mous_file(f"{recipe}.casapy.log{self.archive}", "log")

    def record_documents(self, recipe: str) -> None:
        """The calibration's manifest, request and restore script (sizes: their content's, later)."""
        self.mous_file(f"{recipe}.pipeline_manifest.xml", "manifest")
        if self.cycle.legacy_ppr_name:
            self.add(f"PPR_{file_form(self.mous.uid)}.xml", "request")
        else:
            self.mous_file(f"{recipe}.pprequest.xml", "request")
        self.mous_file(f"{recipe}.casa_piperestorescript.py", "script")

    def delivery_package(self) -> None:
        self.mous_file("scriptForPI.py", "script")
        self.mous_file("README.txt", "readme")
        self.mous_file("qa2_report.pdf", "qa_report")
        if self.rng.random() < 0.4:
            self.mous_file(f"auxproducts{self.archive}", "auxproducts")

    def images(self, sources: Sequence[str]) -> None:
        windows = SPECTRAL_WINDOWS[self.mous.array]
        for source in sources:
            if self.mous.array == "TP":
                for window in windows:
                    self.mous_file(f"{source}.spw{window}.cube.I.sd.fits", "cube")
                    self.mous_file(f"{source}.spw{window}.mom0.I.sd.fits", "continuum")
                continue
            all_windows = "_".join(str(window) for window in windows)
            self.mous_file(f"{source}_sci.spw{all_windows}.cont.I.pbcor.fits", "continuum")
            self.mous_file(f"{source}_sci.spw{all_windows}.cont.I.pb.fits.gz", "primary_beam")
            for window in windows:
                self.mous_file(f"{source}_sci.spw{window}.cube.I.pbcor.fits", "cube")
                self.mous_file(f"{source}_sci.spw{window}.cube.I.pb.fits.gz", "primary_beam")
            if self.rng.random() < 0.2:
                self.mous_file(f"{source}_sci.spw{all_windows}.cont.I.mask.fits.gz", "mask")


def product_files(
    mous: Mous,
    cycle: Cycle,
    sources: Sequence[str],
    rng: Random,
    renumber_caltables: bool = False,
) -> list[ProductFile]:
    """The files a delivered MOUS has in the archive for its recipe (none for ``Recipe.NONE``).

    ``renumber_caltables`` reproduces the classic bug: caltables numbered 1..k over the non-empty
    sessions instead of by the session rule's numbers.
    """
    namer = ProductNamer(mous, cycle, rng)
    if mous.recipe is Recipe.NONE:
        return []
    passed = [eb for session in ordered_sessions(mous) for eb in pass_ebs(session)]
    if mous.recipe is Recipe.PIPELINE:
        numbers = calibrated_session_numbers(mous)
        namer.caltables(range(1, len(numbers) + 1) if renumber_caltables else numbers)
        namer.per_eb_calibration(passed)
    if mous.recipe in (Recipe.PIPELINE, Recipe.UNSPLIT):
        namer.pipeline_run()
    if mous.recipe is Recipe.MANUAL:
        for eb in passed:
            namer.add(f"{file_form(eb.uid)}.ms.scriptForCalibration.py", "script")
        namer.mous_file("scriptForImaging.py", "script")
    namer.delivery_package()
    namer.images(sources)
    return namer.files


def unparsable_caltables(mous: Mous, cycle: Cycle) -> ProductFile:
    """A caltables archive without a session number: a name no session can be read from."""
    name = f"{cycle.member_prefix}{file_form(mous.uid)}.caltables{cycle.archive_suffix}"
    return ProductFile(name, 1_482_139, "calibration" if cycle.classifies_files else None)
