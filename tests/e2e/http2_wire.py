"""HTTP/2 as it goes over the wire, for tests of what gRPC says below the calls (keepalive PINGs,
GOAWAY): a loopback proxy that records the frames passing each way, and a bare client and a bare
server that speak only the connection-level frames.

Cleartext HTTP/2 only (gRPC's insecure channels): the client opens with the 24-byte preface, then
both directions are a sequence of frames, each a 9-byte header (24-bit length, 8-bit type, 8-bit
flags, a reserved bit and a 31-bit stream id) and its payload (RFC 9113, section 4).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADER_BYTES = 9
DATA, HEADERS, SETTINGS, PING, GOAWAY = 0x0, 0x1, 0x4, 0x6, 0x7
ACK = 0x1
ENHANCE_YOUR_CALM = 0xB
READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class Frame:
    """One HTTP/2 frame, stamped with ``time.monotonic()`` when it was seen whole."""

    type: int
    flags: int
    stream_id: int
    payload: bytes
    at: float

    @property
    def is_ping(self) -> bool:
        return self.type == PING and not self.flags & ACK

    @property
    def is_ping_ack(self) -> bool:
        return self.type == PING and bool(self.flags & ACK)

    @property
    def error_code(self) -> int:
        """A GOAWAY's error code (its payload: last stream id, error code, debug data)."""
        assert self.type == GOAWAY, "only a GOAWAY frame has an error code here"
        return int.from_bytes(self.payload[4:8], "big")

    @property
    def debug_data(self) -> bytes:
        assert self.type == GOAWAY, "only a GOAWAY frame has debug data"
        return self.payload[8:]


def encode(frame_type: int, payload: bytes = b"", *, flags: int = 0) -> bytes:
    """The bytes of one connection-level frame (stream 0)."""
    return len(payload).to_bytes(3, "big") + bytes([frame_type, flags]) + bytes(4) + payload


def pings(frames: list[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame.is_ping]


def ping_acks(frames: list[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame.is_ping_ack]


def goaways(frames: list[Frame]) -> list[Frame]:
    return [frame for frame in frames if frame.type == GOAWAY]


async def wait_until(condition: Callable[[], bool], *, within: float) -> bool:
    """Whether ``condition()`` held within ``within`` seconds (polled every 10 ms)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


class FrameParser:
    """Splits one direction's byte stream into frames, however it was chunked."""

    def __init__(self, *, expect_preface: bool):
        self._buffer = bytearray()
        self._preface_pending = expect_preface

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        if self._preface_pending:
            if len(self._buffer) < len(PREFACE):
                return []
            assert bytes(self._buffer[: len(PREFACE)]) == PREFACE, "not a cleartext HTTP/2 client"
            del self._buffer[: len(PREFACE)]
            self._preface_pending = False
        frames = []
        while len(self._buffer) >= HEADER_BYTES:
            length = int.from_bytes(self._buffer[:3], "big")
            if len(self._buffer) < HEADER_BYTES + length:
                break
            stream_id = int.from_bytes(self._buffer[5:9], "big") & 0x7FFF_FFFF
            payload = bytes(self._buffer[HEADER_BYTES : HEADER_BYTES + length])
            frames.append(Frame(self._buffer[3], self._buffer[4], stream_id, payload, time.monotonic()))
            del self._buffer[: HEADER_BYTES + length]
        return frames


@dataclass
class Connection:
    """The frames of one proxied TCP connection, per direction, in the order they passed."""

    to_server: list[Frame] = field(default_factory=list)
    to_client: list[Frame] = field(default_factory=list)


class Http2Tap:
    """A proxy on a free loopback port that forwards each connection to ``upstream`` (host:port)
    byte for byte and records its frames.

    ``async with Http2Tap(upstream) as tap``: dial ``tap.address``, read ``tap.connections``.
    """

    def __init__(self, upstream: str):
        host, port = upstream.rsplit(":", 1)
        self._upstream = (host, int(port))
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task] = set()
        self.connections: list[Connection] = []
        self.address = ""

    async def __aenter__(self) -> Http2Tap:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._server is not None
        self._server.close()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter):
        connection = Connection()
        self.connections.append(connection)
        try:
            server_reader, server_writer = await asyncio.open_connection(*self._upstream)
        except OSError:
            client_writer.close()
            return
        upstream = _pump(client_reader, server_writer, FrameParser(expect_preface=True), connection.to_server)
        downstream = _pump(
            server_reader, client_writer, FrameParser(expect_preface=False), connection.to_client
        )
        for pump in (upstream, downstream):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)


async def _pump(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: FrameParser, frames: list[Frame]
) -> None:
    """Forward one direction until either end closes; bytes go on before they are parsed."""
    try:
        while data := await reader.read(READ_BYTES):
            writer.write(data)
            await writer.drain()
            frames.extend(parser.feed(data))
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: FrameParser, received: list[Frame]
) -> None:
    """Record each frame the peer sends and ACK its SETTINGS and PINGs, as every endpoint must;
    nothing else. Returns when the peer closes the connection."""
    try:
        while data := await reader.read(READ_BYTES):
            for frame in parser.feed(data):
                received.append(frame)
                if frame.type == SETTINGS and not frame.flags & ACK:
                    writer.write(encode(SETTINGS, flags=ACK))
                elif frame.is_ping:
                    writer.write(encode(PING, frame.payload, flags=ACK))
            await writer.drain()
    except ConnectionError:
        pass


class BareHttp2Client:
    """A client that opens an HTTP/2 connection (preface and SETTINGS, no streams), sends PINGs when
    told and otherwise only ACKs; ``received`` holds every frame the server sent.

    ``async with BareHttp2Client(address) as client``.
    """

    def __init__(self, address: str):
        host, port = address.rsplit(":", 1)
        self._address = (host, int(port))
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task | None = None
        self.received: list[Frame] = []

    async def __aenter__(self) -> BareHttp2Client:
        reader, self._writer = await asyncio.open_connection(*self._address)
        self._writer.write(PREFACE + encode(SETTINGS))
        await self._writer.drain()
        self._reader_task = asyncio.create_task(
            _answer(reader, self._writer, FrameParser(expect_preface=False), self.received)
        )
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._writer is not None and self._reader_task is not None
        self._reader_task.cancel()
        await asyncio.gather(self._reader_task, return_exceptions=True)
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()

    @property
    def closed_by_server(self) -> bool:
        """The server closed the connection (still known after this client's own close)."""
        assert self._reader_task is not None
        return self._reader_task.done() and not self._reader_task.cancelled()

    async def ping(self, opaque: int) -> None:
        """Send one PING carrying ``opaque`` (8 bytes); its ACK carries it back."""
        assert self._writer is not None
        self._writer.write(encode(PING, opaque.to_bytes(8, "big")))
        await self._writer.drain()


class BareHttp2Server:
    """Accepts HTTP/2 connections on a free loopback port and only ACKs: it never pings and never
    polices pings, so what a client sends on its own shows. ``connections`` holds, per connection,
    the frames the client sent.

    ``async with BareHttp2Server() as server``: dial ``server.address``.
    """

    def __init__(self):
        self._server: asyncio.Server | None = None
        self._open: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self.connections: list[list[Frame]] = []
        self.address = ""

    async def __aenter__(self) -> BareHttp2Server:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.address = f"127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._server is not None
        self._server.close()
        # Closed, not cancelled: asyncio logs an error for a cancelled connection handler.
        for writer in self._open.values():
            writer.close()
        if self._open:
            await asyncio.wait(self._open, timeout=5.0)
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._open[handler] = writer
        received: list[Frame] = []
        self.connections.append(received)
        try:
            writer.write(encode(SETTINGS))
            await _answer(reader, writer, FrameParser(expect_preface=True), received)
        finally:
            del self._open[handler]
            writer.close()
