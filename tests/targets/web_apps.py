"""A WSGI app (gunicorn) and an ASGI app (uvicorn) with some state, as a small service has:
a cache of 50,000 records and the last 100 paths asked for. Both answer b"ok\n"."""

STATE = {"requests": 0, "recent": [], "cache": {("k%d" % i): {"id": i, "v": "x" * 50} for i in range(50000)}}


def _served(path):
    STATE["requests"] += 1
    STATE["recent"] = (STATE["recent"] + [path])[-100:]
    return b"ok\n"


def wsgi(environ, start_response):
    body = _served(environ.get("PATH_INFO"))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


async def asgi(scope, receive, send):
    if scope["type"] != "http":
        return
    body = _served(scope.get("path"))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})
