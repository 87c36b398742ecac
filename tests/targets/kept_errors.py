"""A service that keeps its recent exceptions: each keeps its traceback, whose finished frame
keeps parse()'s 2 MB local alive (issue 14's kept-exceptions case).  Python 3."""
import time

RECENT_ERRORS = []


def parse(n):
    payload = bytearray(2 * 1024 * 1024)
    raise ValueError("bad record %d (%d bytes)" % (n, len(payload)))


for i in range(3):
    try:
        parse(i)
    except ValueError as e:
        RECENT_ERRORS.append(e)
print("ready", flush=True)
while True:
    time.sleep(0.5)
