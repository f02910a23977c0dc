"""The gunicorn worker class: uvicorn-worker with our defaults.

`uvicorn-worker` is the maintained home of `uvicorn.workers.UvicornWorker`
(deprecated in uvicorn itself). Access logging is off because our middleware
writes the one access line per request.
"""

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):  # type: ignore[misc]  # uvicorn-worker publishes no types
    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": "servicekit.http:HttpToolsProtocol",
        "access_log": False,
        "server_header": False,
        "proxy_headers": True,
    }
