"""``python -m etl.cli``: the same as the ``almamirror`` command."""

import sys

from etl.cli import main

sys.exit(main())
