"""Entry file for ``spark-submit`` (standalone cluster or local): the same pipeline as the CLI.

spark-submit --master spark://127.0.0.1:7077 batch/submit.py --as-of 2018-09-24
"""

from __future__ import annotations

import sys

from hybridrec.cli import main

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--master" not in args:
        args += ["--master", "inherit"]  # the master is spark-submit's
    sys.exit(main(["batch", "run", *args]))
