"""``python -m minimsam.crosscheck export|torch ...`` (see :mod:`minimsam.crosscheck.cli`)."""

import sys

from minimsam.crosscheck.cli import main

sys.exit(main())
