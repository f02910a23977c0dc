"""The workers' HTTP protocol (servicekit.http): uvicorn's, writing each
response with one system call instead of two."""

import asyncio
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from hoststack.procs import free_port
from servicekit.gunicorn_conf import GC_THRESHOLD
from servicekit.http import GatheringTransport, HttpToolsProtocol
from servicekit.worker import UvicornWorker
from tests.helpers import fresh_python


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        assert not self.closed, "written after close"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def test_what_one_step_writes_goes_out_in_one_write_at_its_end() -> None:
    wrapped = Recording()
    transport = GatheringTransport(wrapped, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert wrapped.writes == []  # nothing yet: the step is not over
    await asyncio.sleep(0)
    assert wrapped.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert wrapped.writes[1:] == [b"next"]
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest is the wrapped transport's


async def test_closing_writes_what_is_pending_first_and_nothing_after() -> None:
    wrapped = Recording()
    transport = GatheringTransport(wrapped, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.close()
    assert wrapped.writes == [b"last words"]
    assert wrapped.closed
    transport.write(b"too late")  # uvicorn does not, but a late write must not reach a closed transport
    await asyncio.sleep(0)
    assert wrapped.writes == [b"last words"]


def test_the_workers_use_it() -> None:
    assert UvicornWorker.CONFIG_KWARGS["http"] == "servicekit.http:HttpToolsProtocol"


async def _page(_: Any) -> Response:
    return Response(b"[" + b'{"n":1},' * 500 + b"{}]", media_type="application/json", headers={"ETag": '"v1"'})


async def _stream(_: Any) -> StreamingResponse:
    async def chunks() -> Any:
        for n in range(3):
            yield f"chunk {n};".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture
async def server(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A real uvicorn server with the protocol, recording what each flush wrote."""
    flushes: list[bytes] = []
    flush = GatheringTransport.flush

    def recording_flush(self: GatheringTransport) -> None:
        if self._pending:
            flushes.append(b"".join(self._pending))
        flush(self)

    monkeypatch.setattr(GatheringTransport, "flush", recording_flush)
    app = Starlette(routes=[Route("/page", _page), Route("/stream", _stream)])
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=HttpToolsProtocol, lifespan="off", log_level="error")
    instance = uvicorn.Server(config)
    task = asyncio.create_task(instance.serve())
    for _ in range(1000):  # up to 10 s
        if instance.started:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}", flushes
    finally:
        instance.should_exit = True
        await task


async def test_a_response_is_one_write_under_a_real_server(server: Any) -> None:
    base, flushes = server
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(3):  # keep-alive: each response on the same connection is one write too
            answer = await client.get("/page")
            assert answer.status_code == 200
            assert answer.headers["etag"] == '"v1"'
            assert answer.json()[0] == {"n": 1}
    assert len(flushes) == 3
    for written in flushes:
        assert written.startswith(b"HTTP/1.1 200 OK\r\n")
        assert written.endswith(b"{}]")


async def test_a_streamed_response_still_streams(server: Any) -> None:
    base, flushes = server
    async with httpx.AsyncClient(base_url=base) as client:
        answer = await client.get("/stream")
    assert answer.text == "chunk 0;chunk 1;chunk 2;"
    assert len(flushes) >= 3  # each chunk went out when it was sent, not gathered to the end


def test_a_worker_freezes_what_start_up_allocated() -> None:
    """gunicorn's post_worker_init hook (servicekit.gunicorn_conf) moves every
    object alive after start-up out of the collector's reach and collects
    young objects less often: full collections walked the whole app's
    objects (8.6 % of a worker's samples under load) and were the worst of
    the tail latency (docs/benchmarks.md)."""
    probe = (
        "import gc, servicekit.gunicorn_conf as conf; assert gc.get_freeze_count() == 0; "
        "conf.post_worker_init(None); print(gc.get_freeze_count(), gc.get_threshold())"
    )
    frozen, threshold = fresh_python(probe).split(" ", 1)
    assert int(frozen) > 10_000  # the imported frameworks, at least
    assert threshold.strip() == str(GC_THRESHOLD)
