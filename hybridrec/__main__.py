"""``python -m hybridrec``: the same command line as the ``hybridrec`` script, for callers that must run
this checkout's code whatever is installed (the demo's child processes)."""

import sys

from hybridrec.cli import main

sys.exit(main())
