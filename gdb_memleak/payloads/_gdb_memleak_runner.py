"""Runs a payload inside the target and turns its outcome into ASCII JSON bytes.

The injector appends this file, and then one line calling __gdb_memleak_run__,
to the payload's source; all of it runs as one module in a fresh globals dict.
It imports nothing that is not already loaded in every interpreter (sys only):
importing json or traceback would leave modules, and memory, in the target.
So it writes its JSON itself, and formats a failure itself.
Python 2.7 and 3.x alike.
"""

import sys

# A result larger than this is a bug in a payload; refuse it rather than make
# the target hold, and gdb read, a huge string.
__gdb_memleak_max_result__ = 8 * 1024 * 1024

try:
    __gdb_memleak_text__ = (unicode, str)  # noqa: F821 (Python 2)
    __gdb_memleak_ints__ = (int, long)  # noqa: F821
except NameError:
    __gdb_memleak_text__ = (str,)
    __gdb_memleak_ints__ = (int,)

__gdb_memleak_escapes__ = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def __gdb_memleak_json_string__(text):
    if isinstance(text, bytes) and bytes is not str:
        text = text.decode("latin-1")
    elif not isinstance(text, type(u"")):
        text = text.decode("utf-8", "replace")  # a Python 2 str
    out = []
    for ch in text:
        code = ord(ch)
        if ch in __gdb_memleak_escapes__:
            out.append(__gdb_memleak_escapes__[ch])
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:  # a surrogate pair, as JSON spells characters beyond the BMP
            code -= 0x10000
            out.append("\\u%04x\\u%04x" % (0xD800 | (code >> 10), 0xDC00 | (code & 0x3FF)))
    return '"' + "".join(out) + '"'


def __gdb_memleak_json__(value, out):
    """Append the JSON text of `value` (dicts, lists, text, numbers, None) to `out`."""
    kind = type(value)
    if value is None:
        out.append("null")
    elif kind is bool:
        out.append("true" if value else "false")
    elif kind in __gdb_memleak_ints__:
        out.append(str(int(value)))
    elif kind is float:
        # NaN and infinities are not JSON.
        out.append(repr(value) if value == value and value not in (float("inf"), float("-inf")) else "null")
    elif kind in __gdb_memleak_text__ or kind is bytes:
        out.append(__gdb_memleak_json_string__(value))
    elif kind is dict:
        out.append("{")
        first = True
        for key in value:
            if not first:
                out.append(",")
            first = False
            out.append(__gdb_memleak_json_string__(key if type(key) in __gdb_memleak_text__ else str(key)))
            out.append(":")
            __gdb_memleak_json__(value[key], out)
        out.append("}")
    elif kind in (list, tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            __gdb_memleak_json__(item, out)
        out.append("]")
    else:  # payloads return plain data; anything else is reported, never repr()'d
        out.append(__gdb_memleak_json_string__("<%s>" % kind.__name__))


def __gdb_memleak_error__():
    """The failure as text: the innermost frames and the exception, like a traceback's tail."""
    kind, error, tb = sys.exc_info()
    lines = []
    while tb is not None:
        code = tb.tb_frame.f_code
        lines.append("  File %s, line %d, in %s" % (code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    try:
        message = str(error)
    except Exception:
        message = "<unprintable %s>" % kind.__name__
    lines = lines[-8:]
    lines.append("%s: %s" % (kind.__name__, message[:2000]))
    return "\n".join(lines)


def __gdb_memleak_run__(args, tool_paths):
    added = [p for p in tool_paths if p not in sys.path]
    sys.path.extend(added)
    try:
        try:
            doc = {"ok": True, "result": gdb_memleak_payload(args)}  # noqa: F821 (defined by the payload above)
        except BaseException:
            doc = {"ok": False, "error": __gdb_memleak_error__()}
    finally:
        for p in added:
            while p in sys.path:
                sys.path.remove(p)
    out = []
    try:
        __gdb_memleak_json__(doc, out)
    except Exception:
        out = []
        __gdb_memleak_json__({"ok": False, "error": __gdb_memleak_error__()}, out)
    text = "".join(out)
    if len(text) > __gdb_memleak_max_result__:
        text = '{"ok": false, "error": "ValueError: the payload\'s result is too large (%d bytes)"}' % len(text)
    return text.encode("ascii")
