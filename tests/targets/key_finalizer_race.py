"""The census's read of dict keys, against a thread that drops a key meanwhile.  Python 3.

Loads payloads/heap.py as it runs on its own (argv[1]: its path) and runs the census with a
trace function that plays the target's other thread, deterministically: once the census has
listed a dict, a key with a __del__ is added to it (only the dict holds it); once the payload
holds that key too, the dict is cleared.  The payload's reference is then the last one, and
the key must not die in the payload's thread (its __del__ could take a lock that thread holds).
Prints "cleared N", "died-in-payload M" (deaths in the thread that ran the payload, during it)
and "census T" (total objects counted).
"""
import sys
import threading
import weakref

PAYLOAD = sys.argv[1]
ns = {"__name__": "payload", "__file__": PAYLOAD}
exec(compile(open(PAYLOAD).read(), PAYLOAD, "exec"), ns)
ns["__gdb_memleak_leave__"](ns["__gdb_memleak_state__"])

main = threading.get_ident()
state = {"in_payload": False, "playing": False}
died = []


class Key(object):
    def __del__(self):
        if state["in_payload"] and not state["playing"] and threading.get_ident() == main:
            died.append(sys._getframe(1).f_code.co_name)


dicts = [dict((Key(), i) for i in range(50)) for _ in range(20)]
added = {}
cleared = []


def other_thread(frame, event, arg):
    """At each line of _str_keys: add a key to a dict the census has listed, or clear the dict
    once the payload holds that key too (its count above the dict's and getrefcount's)."""
    if frame.f_code.co_name != "_str_keys":
        return None
    if event == "line":
        state["playing"] = True
        objs = frame.f_locals.get("objs") or ()
        for i, d in enumerate(dicts):
            if i not in added and any(o is d for o in objs):
                k = Key()
                d[k] = -1
                added[i] = weakref.ref(k)  # only the dict holds it, as the census wants
                k = None
            elif added.get(i) is not None and added[i]() is not None and sys.getrefcount(added[i]()) > 2:
                # the dict, the call's argument: and the payload
                added[i] = None
                d.clear()
                cleared.append(i)
        d = objs = None
        state["playing"] = False
    return other_thread


st = ns["__gdb_memleak_enter__"](ns["__gdb_memleak_quiet_start__"]())
state["in_payload"] = True
sys.settrace(other_thread)
try:
    doc = ns["gdb_memleak_payload"]({})
finally:
    sys.settrace(None)
    state["in_payload"] = False
    ns["__gdb_memleak_leave__"](st)
sys.stdout.write("cleared %d\ndied-in-payload %d %s\ncensus %d\n" % (len(cleared), len(died), sorted(set(died)), doc["total_count"]))
