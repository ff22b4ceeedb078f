"""``python -m experiments.figures``: see :mod:`experiments.figures`."""

from . import main

raise SystemExit(main())
