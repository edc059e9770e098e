"""The pipeline manifest (``*.pipeline_manifest.xml``): versions, MPI use, and the calibrated sessions.

No namespace; elements are read by local name and unknown attributes are ignored (attributes were added
over the years). Only the first ``<ous>`` counts. Only sessions holding measurement sets appear: a MOUS
whose SESSION_1 is empty has no ``session_1`` element. Files of mid-2018 spell the environment
``executionEnvironment``/``numMpiServers``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from lxml import etree

from etl.calibration.errors import MalformedDocument
from etl.calibration.xml import child, children, local_name, parse_xml

_SESSION_NAME: Final = re.compile(r"session_([1-9][0-9]{0,5})")
_MS_SUFFIX: Final = ".ms"


@dataclass(frozen=True)
class ManifestAsdm:
    """One calibrated EB: its disk name (``uid___A002_…``) and the per-EB products a restore opens."""

    eb: str
    flagversions: str | None
    calapply: str | None


@dataclass(frozen=True)
class ManifestSession:
    number: int
    caltables: str | None
    asdms: tuple[ManifestAsdm, ...]


@dataclass(frozen=True)
class Manifest:
    casa_version: str | None
    pipeline_version: str | None
    procedure: str | None
    mpi_servers: int | None  # the sum over nodes; 0 = serial CASA; None = not recorded (before 2018)
    request: str | None
    restore_script: str | None
    manifest: str | None
    sessions: tuple[ManifestSession, ...]

    def eb_sessions(self) -> dict[int, tuple[str, ...]]:
        """Session number → the EB disk names calibrated in it."""
        return {session.number: tuple(asdm.eb for asdm in session.asdms) for session in self.sessions}

    def to_json(self) -> dict[str, Any]:
        return {
            "casa_version": self.casa_version, "pipeline_version": self.pipeline_version,
            "procedure": self.procedure, "mpi_servers": self.mpi_servers, "request": self.request,
            "restore_script": self.restore_script, "manifest": self.manifest,
            "sessions": [
                {"number": s.number, "caltables": s.caltables,
                 "asdms": [[a.eb, a.flagversions, a.calapply] for a in s.asdms]}
                for s in self.sessions
            ],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Manifest:
        return cls(
            value["casa_version"], value["pipeline_version"], value["procedure"], value["mpi_servers"],
            value["request"], value["restore_script"], value["manifest"],
            tuple(
                ManifestSession(s["number"], s["caltables"], tuple(ManifestAsdm(*a) for a in s["asdms"]))
                for s in value["sessions"]
            ),
        )


def parse_manifest(content: bytes) -> Manifest:
    """What the manifest says; ``MalformedDocument`` when it is not a pipeline manifest."""
    root = parse_xml(content, "the manifest")
    if local_name(root) != "piperesults":
        raise MalformedDocument(f"the manifest's root element is {local_name(root)}, not piperesults")
    ous = child(root, "ous")
    if ous is None:
        raise MalformedDocument("the manifest has no <ous> element")
    sessions = tuple(_session(element) for element in children(ous, "session"))
    numbers = [session.number for session in sessions]
    if len(set(numbers)) != len(numbers):
        raise MalformedDocument(f"the manifest lists a session twice ({_names(numbers)})")
    return Manifest(
        casa_version=_name_of(ous, "casaversion"),
        pipeline_version=_name_of(ous, "pipeline_version"),
        procedure=_name_of(ous, "procedure_name"),
        mpi_servers=_mpi_servers(ous),
        request=_name_of(ous, "piperequest"),
        restore_script=_name_of(ous, "restorescript"),
        manifest=_name_of(ous, "manifest"),
        sessions=sessions,
    )


def _names(numbers: list[int]) -> str:
    return ", ".join(f"session_{number}" for number in numbers)


def _name_of(parent: etree._Element, tag: str) -> str | None:
    element = child(parent, tag)
    return None if element is None else (element.get("name") or None)


def _session(element: etree._Element) -> ManifestSession:
    label = element.get("name") or ""
    match = _SESSION_NAME.fullmatch(label)
    if match is None:
        raise MalformedDocument(f"the manifest has a session named {label!r}, not session_<N>")
    caltables = child(element, "caltables")
    asdms = []
    for asdm in children(element, "asdm"):
        name = asdm.get("name") or ""
        if not name:
            raise MalformedDocument(f"an <asdm> of {label} in the manifest has no name")
        asdms.append(
            ManifestAsdm(
                name.removesuffix(_MS_SUFFIX), _name_of(asdm, "finalflags"), _name_of(asdm, "applycmds")
            )
        )
    return ManifestSession(
        int(match.group(1)), None if caltables is None else caltables.get("name") or None, tuple(asdms)
    )


def _mpi_servers(ous: etree._Element) -> int | None:
    environment = child(ous, "execution_environment", "executionEnvironment")
    if environment is None:
        return None
    total: int | None = None
    for node in children(environment, "node"):
        value = node.get("num_mpi_servers", node.get("numMpiServers"))
        if value is None:
            continue
        try:
            servers = int(value)
        except ValueError:
            raise MalformedDocument(f"a node's MPI server count {value!r} is not a number") from None
        total = (total or 0) + servers
    return total
