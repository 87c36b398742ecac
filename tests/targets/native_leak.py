"""A service whose memory is outside Python objects: 120 MB from libc's malloc through ctypes
(touched, so resident), beside a small Python heap; with `grow`, 2 MB more every 0.1 s (up to
another 300 MB).  Python 3."""
import ctypes
import sys
import time

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
blocks = []
for _ in range(120):
    block = libc.malloc(1 << 20)
    ctypes.memset(block, 1, 1 << 20)
    blocks.append(block)
records = [{"id": i, "name": "record %d" % i} for i in range(2000)]
sys.stdout.write("ready\n")
sys.stdout.flush()
growing = sys.argv[1:] == ["grow"]
while True:
    time.sleep(0.1)
    if growing and len(blocks) < 270:
        for _ in range(2):
            block = libc.malloc(1 << 20)
            ctypes.memset(block, 1, 1 << 20)
            blocks.append(block)
