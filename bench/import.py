"""``python -m bench.import``: the import benchmark of issue 16 (bench/import_run.py). The
module's name is the command's; ``import`` being a keyword, the code lives beside it."""

import sys

from bench.import_run import main

if __name__ == "__main__":
    sys.exit(main())
