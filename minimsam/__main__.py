"""``python -m minimsam ...``: the same as the ``minimsam`` command."""

from minimsam.cli import main

raise SystemExit(main())
