"""Issue 14's Flask case: a module-level list keeps every request's dict, 2,361 of them, and a
session table keeps 50,000 str keys.  Prints what each retains, as the sum of sys.getsizeof
over what only it holds ("truth LOG N" and "truth SESSIONS N").  Python 2.7 and 3."""
import sys
import time
import types

audit = types.ModuleType("helpers.audit")
sys.modules["helpers.audit"] = audit
audit._AUDIT_LOG = []


def handle(i):
    request = {"path": "/api/items/%d" % i, "body": ("x%05d" % i) * 2700,
               "headers": {"accept": "*/*", "n": str(i)}, "n": i + 1000}
    audit._AUDIT_LOG.append(request)


for i in range(2361):
    handle(i)
SESSIONS = dict((("session-%08d" % i) * 4, None) for i in range(50000))

size = sys.getsizeof
log = size(audit._AUDIT_LOG) + sum(size(r) + size(r["path"]) + size(r["body"]) + size(r["headers"])
                                   + size(r["headers"]["n"]) + size(r["n"]) for r in audit._AUDIT_LOG)
sessions = size(SESSIONS) + sum(size(k) for k in SESSIONS)
sys.stdout.write("truth LOG %d\ntruth SESSIONS %d\nready\n" % (log, sessions))
sys.stdout.flush()
ticks = 0
while True:
    time.sleep(0.2)
    ticks += 1
    sys.stdout.write("tick %d %d\n" % (ticks, len(audit._AUDIT_LOG)))
    sys.stdout.flush()
