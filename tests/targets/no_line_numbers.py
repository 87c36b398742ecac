"""The main thread, the only one, loops in code that has no line numbers (an empty line table, as
some generated code has): on 3.11+ its frames' f_lineno is None.  Python 3.11+."""
import time

SOURCE = "kept = []\nwhile True:\n    kept.append(str(len(kept)))\n    del kept[:-100]\n    sleep(0.001)\n"
code = compile(SOURCE, "<generated>", "exec").replace(co_linetable=b"")
print("ready", flush=True)
exec(code, {"sleep": time.sleep})
