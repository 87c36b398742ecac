"""Issue 14's numpy service: it keeps the first rows of each batch it decoded, as views, and
each view keeps its whole batch alive (.base). 8 batches of 8 MB, pinned by 8 views of 2 rows.

Each heartbeat prints, as JSON after "tick ", what the views pin (the sum of their bases'
nbytes) and whether the rows still hold what was written. Needs numpy (the test venv has it).
"""
import json
import sys
import time

import numpy as np


def decode(i):
    batch = np.full((1000, 1000), float(i))  # 8,000,000 bytes
    return batch[:2]  # a view: it keeps the whole batch alive


RECENT_ROWS = [decode(i) for i in range(8)]
PINNED = sum(view.base.nbytes for view in RECENT_ROWS)
sys.stdout.write("ready\n")
sys.stdout.flush()
while True:
    ok = all(view.base.shape == (1000, 1000) and float(view.base[-1, -1]) == i for i, view in enumerate(RECENT_ROWS))
    sys.stdout.write("tick %s\n" % json.dumps({"pinned": PINNED, "ok": ok}))
    sys.stdout.flush()
    time.sleep(0.5)
