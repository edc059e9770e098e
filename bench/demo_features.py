"""Fill the demo archive at a scale and check it holds every structure and anomaly the ETL must handle.

    .venv/bin/python bench/demo_features.py [--scale alma] [--home DIR] [--seed N]

The test suite checks the small and medium archives (tests/etl/demo/test_anomalies.py); the ``alma``
scale (≈36,000 MOUSes) takes minutes to fill on two cores, so its check runs here. The feature queries
are the suite's own (tests/etl/demo/anomalies.py). Uses its own embedded PostgreSQL under --home (default
~/.cache/almamirror-bench-features) and a source database ``bench_features_<scale>``, refilled on every
run so that the check always sees what today's generator writes. Prints the fill's and the check's
time; exits 1, naming what is missing, when a feature is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on the path, where bench/ppr.py hides the ppr
# package; the project's root takes its place, for the feature queries that live with the tests.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse
import os
import time

from etl import embedded
from etl.database import create_source_engine
from etl.demo.fill import fill_demo_archive
from etl.demo.scales import DEFAULT_SEED, DEMO_AS_OF
from etl.settings import load_settings
from etl.source.contract import CONTRACT
from tests.etl.demo.anomalies import missing_features


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", default="alma", choices=("small", "medium", "alma"))
    parser.add_argument("--home", type=Path, default=Path.home() / ".cache" / "almamirror-bench-features")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()

    url = embedded.database_url(args.home, f"bench_features_{args.scale}")
    settings = load_settings(environ={
        "ALMAMIRROR_HOME": str(args.home),
        "ALMAMIRROR_SOURCE_URL": url.render_as_string(hide_password=False),
        "ALMAMIRROR_LOG_LEVEL": "WARNING",
    })
    engine = create_source_engine(url, settings)
    try:
        started = time.monotonic()
        summary = fill_demo_archive(engine, CONTRACT, settings.source.schema, scale=args.scale,
                                    seed=args.seed)
        filled = time.monotonic() - started
        print(f"{args.scale} archive filled in {filled:.1f} s: {summary.describe()}")
        sys.stdout.flush()
        started = time.monotonic()
        with engine.connect() as connection:
            missing = missing_features(connection, DEMO_AS_OF)
        checked = time.monotonic() - started
    finally:
        engine.dispose()
    print(f"checked in {checked:.1f} s ({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f})")
    if missing:
        print("missing: " + "; ".join(missing))
        return 1
    print("every feature present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
