"""A TCP proxy on 127.0.0.1 whose upstream the test takes away and brings
back: `forward` (to the real PostgreSQL or Redis), `refuse` (connections
accepted and closed at once, as a stopped container's port does) or `silent`
(accepted and never answered, as a frozen host or a partition does).
`cut()` closes every connection in progress, as the upstream dying would.
It runs on the test's event loop, beside the in-process app."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Literal

Mode = Literal["forward", "refuse", "silent"]


class Proxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode: Mode = "forward"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> "Proxy":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def cut(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def set(self, mode: Mode, *, cut: bool = True) -> None:
        """Switch to `mode`; by default the connections in progress go too."""
        self.mode = mode
        if cut:
            self.cut()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            if self.mode == "refuse":
                return
            if self.mode == "silent":
                await reader.read()  # until the client gives up
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
            self._writers.add(upstream_writer)
            try:
                await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
            finally:
                self._writers.discard(upstream_writer)
                upstream_writer.transport.abort()
        except OSError:
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()


@contextlib.asynccontextmanager
async def proxy_to(host: str, port: int) -> AsyncIterator[Proxy]:
    proxy = await Proxy(host, port).start()
    try:
        yield proxy
    finally:
        await proxy.stop()
