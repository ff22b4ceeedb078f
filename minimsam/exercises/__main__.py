"""``python -m minimsam.exercises check|list ...`` (see :mod:`minimsam.exercises.cli`)."""

import sys

from minimsam.exercises.cli import main

sys.exit(main())
