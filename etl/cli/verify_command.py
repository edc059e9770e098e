"""``almamirror ppr --verify REQUEST_DIR``: will the pipeline's restore find everything it opens there?

Pure reading: no database, no archive, no CASA (``ppr.verify``). Exit 0 when the preflight finds nothing
wrong, 1 with one line per problem, 2 when the path is not a request directory at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO

from etl.errors import UsageError

# Options that choose or write a PPR from the mirror; --verify reads a directory and takes none of them.
_NOT_WITH_VERIFY = ("mous_uid", "all_restorable", "relative_path", "allow_proprietary", "force", "fetch",
                    "newly_restorable", "since", "products_only", "workers")


def run_verify(args: Any, stream: TextIO) -> int:
    """Check ``args.verify`` and write the result to ``stream`` in ``args.format``."""
    from ppr.verify import verify_request

    given = [name for name in _NOT_WITH_VERIFY if getattr(args, name, None) not in (None, False)]
    if given:
        options = ", ".join(name.replace("_", "-") for name in given)
        raise UsageError(f"--verify reads a request directory and takes no other options (got {options})")
    verification = verify_request(Path(args.verify))
    write_verification(verification, args.format, stream)
    return 0 if verification.ok else 1


def write_verification(verification: Any, fmt: str, stream: TextIO) -> None:
    """One line per problem, then a closing line; or the whole result as JSON."""
    if fmt == "json":
        json.dump(verification.to_json(), stream, indent=2)
        stream.write("\n")
        return
    for problem in verification.problems:
        stream.write(problem.line() + "\n")
    stream.write(verification_line(verification) + "\n")


def verification_line(verification: Any) -> str:
    """The preflight's verdict in one line."""
    manifest = verification.manifest or "no pipeline manifest"
    scope = "" if verification.asdms_checked else " (ASDMs not checked)"
    if verification.ok:
        return (f"preflight {verification.directory}: the restore will find everything it opens{scope} "
                f"({verification.files_checked} product(s) checked, manifest {manifest})")
    return f"preflight {verification.directory}: {len(verification.problems)} problem(s){scope}"
