"""Every structure and anomaly the demo archive must contain, as SQL counts over the filled tables.

These read the tables only (never FIXED_CASES), so they hold for any archive that has the features.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree
from sqlalchemy import Connection, text

from tests.etl.demo.session_rule import SESSION_RULE, derived_sessions

# Caltables names: <prefix><mous>.session_<N>.caltables.<archive>; "auxcaltables" never matches.
CALTABLES = r"\.session_[0-9]+\.caltables\.(tgz|tar\.gz)$"

# Each query counts rows showing one feature; every count must be positive.
PRESENT: dict[str, str] = {
    "12-m MOUS": "SELECT count(*) FROM alma.bmmv_schedblock WHERE requestedarray = 'TWELVE-M'",
    "7-m MOUS": "SELECT count(*) FROM alma.bmmv_schedblock WHERE requestedarray = 'SEVEN-M'",
    "7-m MOUS under the old name ACA":
        "SELECT count(*) FROM alma.bmmv_schedblock WHERE requestedarray = 'ACA'",
    "TP MOUS": "SELECT count(*) FROM alma.bmmv_schedblock WHERE requestedarray = 'TP-Array'",
    "shift log 12 [m]": "SELECT count(*) FROM alma.shiftlog_entries WHERE se_arrayfamily = '12 [m]'",
    "shift log 7 [m]": "SELECT count(*) FROM alma.shiftlog_entries WHERE se_arrayfamily = '7 [m]'",
    "shift log Total Power":
        "SELECT count(*) FROM alma.shiftlog_entries WHERE se_arrayfamily = 'Total Power'",
    "session with several EBs": """
        SELECT count(*) FROM (SELECT sessionid FROM alma.aqua_execblock WHERE sessionid IS NOT NULL
                              GROUP BY sessionid HAVING count(*) > 1) s""",
    "Fail EB": "SELECT count(*) FROM alma.aqua_execblock WHERE qa0status = 'Fail'",
    "SemiPass EB": "SELECT count(*) FROM alma.aqua_execblock WHERE qa0status = 'SemiPass'",
    "Pending EB": "SELECT count(*) FROM alma.aqua_execblock WHERE qa0status LIKE 'Pending%'",
    "Unset EB": "SELECT count(*) FROM alma.aqua_execblock WHERE qa0status = 'Unset'",
    "EB without session": "SELECT count(*) FROM alma.aqua_execblock WHERE sessionid IS NULL",
    "NULL EB end": "SELECT count(*) FROM alma.aqua_execblock WHERE endtime IS NULL",
    "NULL session end": "SELECT count(*) FROM alma.aqua_session WHERE endtime IS NULL",
    "NULL session start": "SELECT count(*) FROM alma.aqua_session WHERE starttime IS NULL",
    "EB with several shift-log rows": """
        SELECT count(*) FROM (SELECT se_eb_uid FROM alma.shiftlog_entries
                              GROUP BY se_eb_uid HAVING count(*) > 1) s""",
    "EB in ASA_SCIENCE under two MOUSes": """
        SELECT count(*) FROM (SELECT asdm_uid FROM alma.asa_science
                              GROUP BY asdm_uid HAVING count(DISTINCT member_ouss_id) > 1) s""",
    "Pass EB missing from ASA_SCIENCE": """
        SELECT count(*) FROM alma.aqua_execblock e
        WHERE e.qa0status = 'Pass'
          AND NOT EXISTS (SELECT 1 FROM alma.asa_science a WHERE a.asdm_uid = e.execblockuid)""",
    "caltables with member. and .tgz": r"""
        SELECT count(*) FROM alma.asa_product_files
        WHERE ngas_file_id ~ '^member\.uid___A001_X[0-9a-f]+_X[0-9a-f]+\.session_[0-9]+\.caltables\.tgz$'""",
    "caltables without prefix, .tgz": r"""
        SELECT count(*) FROM alma.asa_product_files
        WHERE ngas_file_id ~ '^uid___A001_X[0-9a-f]+_X[0-9a-f]+\.session_[0-9]+\.caltables\.tgz$'""",
    "caltables without prefix, .tar.gz": r"""
        SELECT count(*) FROM alma.asa_product_files
        WHERE ngas_file_id
              ~ '^uid___A001_X[0-9a-f]+_X[0-9a-f]+\.session_[0-9]+\.caltables\.tar\.gz$'""",
    "product files with and without FILE_CLASS": """
        SELECT count(DISTINCT file_class IS NULL) - 1 FROM alma.asa_product_files""",
    "manual MOUS with scriptForCalibration and no caltables": r"""
        SELECT count(*) FROM alma.obs_unit_set_status o
        WHERE o.flags IN ('ManualCalibration', 'ManualCalAndImg')
          AND EXISTS (SELECT 1 FROM alma.asa_product_files p WHERE p.asa_ous_id = o.status_entity_id
                      AND p.ngas_file_id LIKE '%.ms.scriptForCalibration.py')
          AND NOT EXISTS (SELECT 1 FROM alma.asa_product_files p WHERE p.asa_ous_id = o.status_entity_id
                          AND p.ngas_file_id ~ '\.session_[0-9]+\.caltables\.(tgz|tar\.gz)$')""",
    "MOUS without products": """
        SELECT count(*) FROM alma.aqua_ous q
        WHERE NOT EXISTS (SELECT 1 FROM alma.asa_product_files p
                          WHERE p.asa_ous_id = q.ous_status_entity_id)""",
    "delivered pipeline MOUS without caltables": r"""
        SELECT count(*) FROM alma.obs_unit_set_status o
        WHERE o.domain_entity_state = 'Delivered' AND o.flags LIKE 'Pipeline%'
          AND EXISTS (SELECT 1 FROM alma.asa_product_files p WHERE p.asa_ous_id = o.status_entity_id)
          AND NOT EXISTS (SELECT 1 FROM alma.asa_product_files p WHERE p.asa_ous_id = o.status_entity_id
                          AND p.ngas_file_id ~ '\.session_[0-9]+\.caltables\.(tgz|tar\.gz)$')""",
    "released before as_of": "SELECT count(*) FROM alma.asa_delivery_status WHERE release_date <= :as_of",
    "released after as_of": "SELECT count(*) FROM alma.asa_delivery_status WHERE release_date > :as_of",
    "never released": "SELECT count(*) FROM alma.asa_delivery_status WHERE release_date IS NULL",
    "Deleted OUS": "SELECT count(*) FROM alma.obs_unit_set_status WHERE domain_entity_state = 'Deleted'",
    "NULL status XML": "SELECT count(*) FROM alma.obs_unit_set_status WHERE xml IS NULL",
    "non-ASCII PI name": """
        SELECT count(*) FROM alma.bmmv_obsproposal
        WHERE octet_length(pi_fullname) > char_length(pi_fullname)""",
    "non-ASCII project title": """
        SELECT count(*) FROM alma.bmmv_obsproject WHERE octet_length(prj_name) > char_length(prj_name)""",
    "MOUS with two SBs": """
        SELECT count(*) FROM (SELECT mous_status_uid FROM alma.bmmv_schedblock
                              GROUP BY mous_status_uid HAVING count(*) > 1) s""",
    "12-m, 7-m and TP MOUS in one science goal": """
        SELECT count(*) FROM (
            SELECT o.parent_obs_unit_set_status_id FROM alma.obs_unit_set_status o
            JOIN alma.bmmv_schedblock b ON b.mous_status_uid = o.status_entity_id
            GROUP BY o.parent_obs_unit_set_status_id
            HAVING count(DISTINCT b.requestedarray) FILTER (WHERE b.requestedarray IN
                   ('TWELVE-M', 'SEVEN-M', 'ACA', 'TP-Array')) >= 3) g""",
}

# Each query counts rows that must not exist.
ABSENT: dict[str, str] = {
    "Fail EB in ASA_SCIENCE": """
        SELECT count(*) FROM alma.asa_science a
        JOIN alma.aqua_execblock e ON e.execblockuid = a.asdm_uid WHERE e.qa0status = 'Fail'""",
    "EB with shift-log rows naming different SBs": """
        SELECT count(*) FROM (SELECT se_eb_uid FROM alma.shiftlog_entries
                              GROUP BY se_eb_uid HAVING count(DISTINCT se_sb_id) > 1) s""",
    "EB without a shift-log row": """
        SELECT count(*) FROM alma.aqua_execblock e
        WHERE NOT EXISTS (SELECT 1 FROM alma.shiftlog_entries l WHERE l.se_eb_uid = e.execblockuid)""",
    "Pending or Unset EB in a processed MOUS": """
        SELECT count(*) FROM alma.aqua_execblock e
        JOIN alma.bmmv_schedblock b ON b.archive_uid = e.schedblockuid
        JOIN alma.obs_unit_set_status o ON o.status_entity_id = b.mous_status_uid
        WHERE (e.qa0status = 'Unset' OR e.qa0status LIKE 'Pending%')
          AND EXISTS (SELECT 1 FROM alma.asa_product_files p WHERE p.asa_ous_id = o.status_entity_id)""",
    "delivery whose ID names no MOUS": """
        SELECT count(*) FROM alma.asa_delivery_status d
        WHERE NOT EXISTS (
            SELECT 1 FROM alma.obs_unit_set_status o JOIN alma.bmmv_obsproject p
              ON p.prj_archive_uid = o.obs_project_id
            WHERE d.delivery_id
                  = p.prj_code || '_' || replace(replace(o.status_entity_id, '://', '___'), '/', '_'))""",
}

SEED_SESSIONS = {
    # 002_addcd2bdd8a02eb3.txt: the example PPR's SESSION_1..15.
    "uid://A001/X129e/Xb6": (
        ("uid://A002/Xc733ea/X179e",), ("uid://A002/Xc73dee/X798",), ("uid://A002/Xc74b5b/X644d",),
        ("uid://A002/Xc75eba/X9aa",), ("uid://A002/Xc75eba/X54db",), ("uid://A002/Xc772ca/Xaaf",),
        ("uid://A002/Xc772ca/X1f5f",), ("uid://A002/Xc77d4f/X109",), ("uid://A002/Xc77d4f/X522",),
        ("uid://A002/Xc77d4f/X3d06",), ("uid://A002/Xc77d4f/X46ca",), ("uid://A002/Xc77d4f/X4d4d",),
        ("uid://A002/Xc790bf/X1201", "uid://A002/Xc790bf/X3e2"), ("uid://A002/Xc790bf/X5bf1",),
        ("uid://A002/Xc790bf/X608a",),
    ),
    # 000_94048a6e1b1e262e.txt: the first test data set.
    "uid://A001/X1284/X265f": (
        ("uid://A002/Xc7111c/X3979", "uid://A002/Xc7111c/X409e"), ("uid://A002/Xc7111c/X86a7",),
        ("uid://A002/Xc72427/X2dfe",),
    ),
}


def count(connection: Connection, query: str, as_of: datetime) -> int:
    statement = text(query)
    parameters = {"as_of": as_of} if ":as_of" in query else {}
    return int(connection.execute(statement, parameters).scalar_one())


def empty_session_positions(connection: Connection) -> set[str]:
    """Where empty sessions occur: "start", "middle", "end" of a MOUS with several sessions."""
    positions = set()
    for _mous, number, session_count, value in connection.execute(SESSION_RULE):
        if value or session_count < 2:
            continue
        positions.add("start" if number == 1 else "end" if number == session_count else "middle")
    return positions


def status_documents(connection: Connection) -> tuple[int, int]:
    """(well-formed, not well-formed) OUSStatus documents among the non-NULL ones."""
    good = bad = 0
    for (document,) in connection.execute(
        text("SELECT xml FROM alma.obs_unit_set_status WHERE xml IS NOT NULL")
    ):
        try:
            etree.fromstring(document.encode())
        except etree.XMLSyntaxError:
            bad += 1
        else:
            good += 1
    return good, bad


def missing_features(connection: Connection, as_of: datetime) -> list[str]:
    """Every expected feature the archive lacks (empty when it has them all)."""
    missing = [name for name, query in PRESENT.items() if count(connection, query, as_of) <= 0]
    missing += [f"no {name}" for name, query in ABSENT.items() if count(connection, query, as_of) != 0]
    positions = empty_session_positions(connection)
    missing += [f"empty session at the {place}" for place in ("start", "middle", "end")
                if place not in positions]
    sessions = derived_sessions(connection)
    if not any(len(values) > 1 for values in sessions.values()):
        missing.append("MOUS with several sessions")
    missing += [f"seed MOUS {uid} with its EBs" for uid, expected in SEED_SESSIONS.items()
                if sessions.get(uid) != expected]
    good, bad = status_documents(connection)
    if not good or not bad:
        missing.append("both well-formed and malformed status XML")
    return missing
