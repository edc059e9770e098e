"""The one MOUS of the demo archive whose products and ASDMs are real: a calibration the pipeline made.

The ALMA pipeline (CASA 6.7.6) calibrated two simulated EBs and exported these products with its own
``hifa_exportdata``; the same pipeline restored them from a request directory almamirror wrote, with
identical calibrated data. ``etl/demo/real_restore/`` keeps them byte for byte: ``products/`` as NGAS
archived them, ``asdm/<disk name>.tgz`` each EB's ASDM. In the demo archive the MOUS is
``uid://A001/Xfe00/X10`` of project ``2099.1.00001.S``: SESSION_1 holds only a QA0 Fail EB, SESSION_2
EB ``uid://A002/Xfe0001/X1``, SESSION_3 EB ``uid://A002/Xfe0002/X2``, as in the calibration's own PPR.
The stand-in NGAS serves the real products (their rows carry the real sizes) and the demo's ASDM
exporter unpacks the real ASDMs, so ``almamirror demo`` builds a request directory a real CASA and
pipeline restore.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from etl.demo.case_plans import (
    CaseFacts,
    EbPlan,
    FixedBuild,
    GoalPlan,
    MousPlan,
    ProjectPlan,
    SessionPlan,
    build_project,
)
from etl.demo.model import FAIL, ProductFile, Project, RecordForm
from etl.demo.real_files import REAL_EBS, REAL_MOUS, REAL_PRODUCTS, REAL_PROJECT_CODE

REAL_CASE: Final = "real_pipeline_restore"
# The project is built in Cycle 11's conventions (observed late 2024, public by DEMO_AS_OF) and then
# given the real calibration's code, which no cycle of the generator has.
_BUILT_AS: Final = "2024.1.09999.S"
# FILE_CLASS of the real products, by how a name ends (as ALMA classifies them).
_FILE_CLASSES: Final = (
    (".pipeline_manifest.xml", "calibration"), (".caltables.tgz", "calibration"),
    (".flagversions.tgz", "calibration"), (".calapply.txt", "calibration"), (".py", "script"),
    (".pprequest.xml", "script"), (".log", "log"),
)

REAL_PROJECT_PLAN: Final = ProjectPlan(
    _BUILT_AS,
    (GoalPlan((
        MousPlan(
            (
                SessionPlan((EbPlan(FAIL),)),
                SessionPlan((EbPlan(uid=REAL_EBS[0]),)),
                SessionPlan((EbPlan(uid=REAL_EBS[1]),)),
            ),
            datetime(2024, 11, 4, 3, 0),
            CaseFacts(
                REAL_CASE,
                "a real pipeline calibration (CASA 6.7.6): the NGAS stand-in serves its real products and "
                "ASDMs; SESSION_1 holds only a Fail EB",
            ),
            uid=REAL_MOUS,
            part_id="X1",
            sb_uids=(("uid://A001/Xfe00/X3", "uid://A001/Xfe00/X4"),),
            record=RecordForm.REAL,
        ),
    )),),
    0x1AF0,
    0x1BF0,
    obsproject_uid="uid://A001/Xfe00/X1",
    status_uid="uid://A001/Xfe00/X2",
    pi_fullname="Unknown",
    title="A real pipeline calibration",
    sources=("Simulated",),
)


def build_real_project(build: FixedBuild) -> Project:
    """The real MOUS's project, its products the real files (names, sizes, bytes)."""
    project = build_project(REAL_PROJECT_PLAN, build)
    project.code = REAL_PROJECT_CODE
    (mous,) = project.mouses()
    mous.products = real_product_files()
    return project


def real_product_files() -> list[ProductFile]:
    """Every real product, named as archived, with its bytes as the stand-in NGAS serves them."""
    return [
        ProductFile(path.name, path.stat().st_size, _file_class(path.name), content=path.read_bytes())
        for path in sorted(REAL_PRODUCTS.iterdir())
        if path.is_file()
    ]


def _file_class(name: str) -> str | None:
    return next((file_class for suffix, file_class in _FILE_CLASSES if name.endswith(suffix)), None)
