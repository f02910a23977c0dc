"""uvicorn's HTTP protocol, writing each response with one system call.

uvicorn writes a response's status line and headers as soon as the app
sends `http.response.start`, and its body with a second write when the app
sends it: two `write(2)` calls for every response, though the app sends both
within the same step of the event loop. A system call on a TCP socket is the
dearest thing a worker does here (docs/benchmarks.md: `write` was 28 % of a
resource worker's samples, three calls a request). `HttpToolsProtocol` hands
uvicorn a transport that gathers what is written during one step of the loop
and writes it at the end of that step: the headers and the body of a
response go out together, in one call, with no delay.
"""

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol


class GatheringTransport:
    """A transport that writes at the end of the event loop's current step
    everything written to it during that step, in one call. Closing writes
    what is pending first; everything else is the wrapped transport's."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpToolsProtocol(_HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(GatheringTransport(transport, self.loop))  # type: ignore[arg-type]
