import sys

from ftwizard.train.run import main

raise SystemExit(main(sys.argv[1:]))
