"""A service that made its interpreter unusual: `tuple_path` (sys.path is a tuple) or `builtins`
(len and isinstance replaced by its own functions, which count their calls).  Python 3."""
import builtins
import sys
import threading
import time

calls = []
if sys.argv[1] == "tuple_path":
    sys.path = tuple(sys.path)
else:
    real_len, real_isinstance = len, isinstance
    builtins.len = lambda x: calls.append("len") or real_len(x)
    builtins.isinstance = lambda x, t: calls.append("isinstance") or real_isinstance(x, t)
words = ["word %d" % i * 3 for i in range(30000)]


def heartbeat():
    ticks = 0
    while True:
        time.sleep(0.2)
        ticks += 1
        print("tick %d calls=%d words=%d" % (ticks, real_len(calls) if sys.argv[1] == "builtins" else 0,
                                            sum(1 for _ in words)), flush=True)


threading.Thread(target=heartbeat, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(1)
