"""Write gdb_memleak/host/layouts/X.Y.json from a CPython 3.13+ build gdb has the debug info of (`make layouts`).

    python tools/dump_layout.py PYTHON [--gdb GDB] [--source TEXT]

Starts PYTHON (sleeping), attaches GDB to it, reads the layout the memory backend uses and the
build's `_Py_DebugOffsets` from the debug info (gdbside/dwarf_layout.py), writes the table,
ends the process.  Use a release build: a table serves the builds whose `_Py_DebugOffsets`
equal its own (host/layout_tables.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

GDB_SCRIPT = """python
import sys
sys.path.insert(0, {root!r})
from gdb_memleak.gdbside import dwarf_layout
from gdb_memleak.host import layout_tables
version = tuple(int(x) for x in {version!r}.split("."))
if not dwarf_layout.available(version):
    raise gdb.GdbError("no debug info for this interpreter")
text = layout_tables.dump(dwarf_layout.offsets(version), dwarf_layout.debug_offsets(), {source!r})
with open(layout_tables.path(version), "w", encoding="utf-8") as f:
    f.write(text)
print("wrote", layout_tables.path(version))
end
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("python")
    parser.add_argument("--gdb", default="gdb")
    parser.add_argument("--source", help="how the table names the build (default: its sys.version)")
    args = parser.parse_args()
    about = subprocess.run([args.python, "-c", "import sys; print('%d.%d' % sys.version_info[:2]); print(sys.version)"],
                           capture_output=True, text=True, check=True).stdout.splitlines()
    version, source = about[0], args.source or "CPython %s (%s)" % (about[1].split()[0], args.python)
    target = subprocess.Popen([args.python, "-c", "import sys, time; print(1, flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        target.stdout.readline()
        with tempfile.NamedTemporaryFile("w", suffix=".gdb") as script:
            script.write(GDB_SCRIPT.format(root=ROOT, version=version, source=source))
            script.flush()
            done = subprocess.run([args.gdb, "-batch", "-nx", "-p", str(target.pid), "-x", script.name],
                                  capture_output=True, text=True, timeout=300)
        if "wrote" not in done.stdout:
            print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
            return 1
        print(done.stdout.strip().splitlines()[-1], file=sys.stderr)
        return 0
    finally:
        os.kill(target.pid, signal.SIGKILL)
        target.wait()


if __name__ == "__main__":
    sys.exit(main())
