"""`python -m ftwizard.cli …` = `ftwizard …` (for scripts and benches that must use this interpreter)."""

from ftwizard.cli import main

raise SystemExit(main())
