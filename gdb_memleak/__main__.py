"""python -m gdb_memleak: the same program as the gdb-memleak console script."""

import sys

from .cli import main

sys.exit(main())
