"""gdb-memleak: gdb commands for hunting memory leaks in live CPython processes.

The gdb side lives in :mod:`gdb_memleak.plugin` (imported only inside gdb);
the code that runs inside the target lives in :mod:`gdb_memleak.payloads`.
"""

__version__ = "0.1.0"
