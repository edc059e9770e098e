"""The hand-run calibration scripts of the demo archive, with the line every real one has: the CASA
version it was written for, which stops it under any other.

Scripts of CASA 4 and 5 are Python 2 (``print "…"``), as real ones are, so the sync's reader must cope
with code ``ast`` cannot parse; CASA 6 scripts are Python 3.
"""

from __future__ import annotations

from typing import Final

from etl.calibration.calibration_script import is_calibration_script
from etl.demo.model import Project

# The CASA release a cycle's data were calibrated by hand with (scripts name it without a build).
SCRIPT_CASA: Final[dict[int, str]] = {
    1: "4.2.2", 2: "4.2.2", 3: "4.5.3", 4: "4.7.2", 5: "5.1.1", 6: "5.4.0", 7: "5.6.1", 8: "6.2.1",
    9: "6.4.1", 10: "6.5.4", 11: "6.6.1", 12: "6.6.6",
}
FIRST_PYTHON3_CASA: Final = 6


def attach_calibration_scripts(project: Project) -> None:
    """Give every hand-run calibration script of the project its content (and size)."""
    version = SCRIPT_CASA[project.cycle.number]
    for mous in project.mouses():
        for product in mous.products:
            if is_calibration_script(product.name):
                product.content = calibration_script(product.name, version)
                product.size = len(product.content)


def calibration_script(name: str, casa_version: str) -> bytes:
    """A script that checks its CASA version first, as ALMA's calibration scripts do."""
    python3 = int(casa_version.split(".", maxsplit=1)[0]) >= FIRST_PYTHON3_CASA
    say = "print('# {}')" if python3 else "print '# {}'"
    # scriptForPI.py recognises the amplitude renormalisation by this name in the flux script.
    renormalisation = (
        ["from almarenorm import ACreNorm", ""] if name.endswith("scriptForFluxCalibration.py") else []
    )
    lines = [
        *renormalisation,
        "import re",
        "import sys",
        "",
        "if applyonly != True: es = aU.stuffForScienceDataReduction()" if not python3 else "",
        "",
        f"if re.search('^{casa_version}', casa['build']['version']) == None:",
        f" sys.exit('ERROR: PLEASE USE THE SAME VERSION OF CASA THAT YOU USED FOR GENERATING THE SCRIPT: "
        f"{casa_version}')",
        "",
        say.format(f"{name}: calibration steps"),
        "mysteps = []",
    ]
    return ("\n".join(lines) + "\n").encode("ascii")
