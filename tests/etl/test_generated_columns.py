"""The values the mirror parses from source values, as PostgreSQL generates them."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import URL

from etl.mirror import Delivery, ProductFile, SchedulingBlock, table_of
from tests.helpers import connect

MOUS = "uid___A001_X1284_X265f"
PRODUCT_NAMES = {
    f"member.{MOUS}.session_1.caltables.tgz": ("caltables", 1),
    f"{MOUS}.session_12.caltables.tar.gz": ("caltables", 12),
    f"member.{MOUS}.session_3.auxcaltables.tgz": ("auxcaltables", 3),
    f"member.{MOUS}.caltables.tgz": ("unparsed", None),
    "uid___A002_Xc7111c_X3979.ms.calapply.txt": ("calapply", None),
    "uid___A002_Xc7111c_X3979.ms.flagversions.tgz": ("flagversions", None),
    "uid___A002_Xc7111c_X3979.ms.flagversions.tar.gz": ("flagversions", None),
    f"member.{MOUS}.hifa_calimage.pipeline_manifest.xml": ("manifest", None),
    f"member.{MOUS}.hifa_calimage.pprequest.xml": ("pprequest", None),
    f"PPR_{MOUS}.xml": ("pprequest", None),
    "uid___A002_Xc7111c_X3979.ms.scriptForCalibration.py": ("calibration_script", None),
    f"member.{MOUS}.scriptForPI.py": ("other", None),
    f"member.{MOUS}.J1733-1304_ph.spw25.mfs.I.pbcor.fits": ("other", None),
    f"member.{MOUS}.session_2.caltables.tgz.md5": ("other", None),
}


def test_product_kind_and_session_number_come_from_the_file_name(mirror_db: URL) -> None:
    files = table_of(ProductFile)
    with connect(mirror_db) as connection:
        connection.execute(insert(files), [{"mous_uid": "m", "file_name": name} for name in PRODUCT_NAMES])
        parsed = {
            row.file_name: (row.kind, row.session_number)
            for row in connection.execute(select(files.c.file_name, files.c.kind, files.c.session_number))
        }
    assert parsed == PRODUCT_NAMES


@pytest.mark.parametrize(
    ("requested", "family"),
    [("TWELVE-M", "12m"), ("SEVEN-M", "7m"), ("ACA", "7m"), ("TP-Array", "TP"), ("tp-array", "TP"),
     ("OTHER", None), (None, None)],
)
def test_array_family_folds_alma_spellings(mirror_db: URL, requested: str | None, family: str | None) -> None:
    blocks = table_of(SchedulingBlock)
    with connect(mirror_db) as connection:
        connection.execute(insert(blocks).values(sb_uid="sb", requested_array=requested))
        assert connection.execute(select(blocks.c.array_family)).scalar_one() == family


@pytest.mark.parametrize(
    ("name", "mous_uid"),
    [("2017.1.00886.L_uid___A001_X1284_X265f", "uid://A001/X1284/X265f"),
     ("2013.1.00123.S_uid___A002_Xabc_X1", "uid://A002/Xabc/X1"),
     ("no mous here", None), (None, None)],
)
def test_the_mous_of_a_delivery_comes_from_its_name(mirror_db: URL, name: str | None,
                                                    mous_uid: str | None) -> None:
    deliveries = table_of(Delivery)
    with connect(mirror_db) as connection:
        connection.execute(insert(deliveries).values(delivery_id=1, delivery_name=name))
        assert connection.execute(select(deliveries.c.mous_uid)).scalar_one() == mous_uid
