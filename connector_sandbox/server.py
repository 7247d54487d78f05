"""Scaffolding shared by the local emulators of remote ledgers (QuickBooks now, Xero later).

A sandbox is a real HTTP server on 127.0.0.1 in a background thread, so the real vendor SDKs talk
to it over real sockets. This module knows nothing about any vendor: it carries requests to an
`App` through the app's own gateway (`admit`), applies the failures of `faults` (latency, 5xx,
429 storms, a write that commits while its response is lost), and reads and writes JSON with
`Decimal`. Per-tenant rate limits live in `limits`. It must never bind anything but the
loopback address and never turn a money amount into a float.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, Self, TypeVar
from urllib.parse import parse_qs, urlsplit

from connector.errors import UserError
from connector.jsonwire import dumps, loads
from connector_sandbox.faults import FaultInjector
from connector_sandbox.limits import RateLimiter, Verdict, Window

__all__ = [
    "HOST",
    "App",
    "Clock",
    "FaultInjector",
    "RateLimiter",
    "Request",
    "Response",
    "SandboxServer",
    "Tenants",
    "Verdict",
    "Window",
    "dumps",
    "loads",
]

HOST = "127.0.0.1"
log = logging.getLogger(__name__)

# --- requests and responses -------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # keys lower-cased
    body: bytes = b""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return loads(self.body or b"null")

    @property
    def line(self) -> str:
        """`METHOD /path`, what fault rules match against."""
        return f"{self.method} {self.path}"


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, value: Any, headers: Mapping[str, str] | None = None) -> Response:
        merged = {"Content-Type": "application/json;charset=UTF-8", **(headers or {})}
        return cls(status, dumps(value).encode(), merged)

    @classmethod
    def redirect(cls, location: str) -> Response:
        return cls(302, b"", {"Location": location})

    def decoded(self) -> Any:
        """The body as JSON (for admin methods that reuse HTTP handlers)."""
        return loads(self.body)


class App(Protocol):
    """A vendor emulator. `exempt_prefixes` are paths faults and the gateway never touch (its
    admin API)."""

    exempt_prefixes: tuple[str, ...]

    def admit(self, request: Request) -> AbstractContextManager[Response | None]:
        """The vendor's gateway (credentials, rate limits): yields a refusal, or None while the
        request holds its place (a concurrency slot) for the rest of its life."""
        ...

    def handle(self, request: Request) -> Response: ...

    def fault_response(self, request: Request, status: int) -> Response:
        """The body the vendor's gateway sends with an injected 429 or 5xx."""
        ...


# --- clock ------------------------------------------------------------------------------------


class Clock:
    """The wall clock a sandbox reads. Tests move it forward to expire tokens or age changes,
    instead of sleeping; `start` freezes it at that instant until `advance` is called."""

    def __init__(self, start: datetime | None = None):
        self._lock = threading.Lock()
        self._frozen = start.astimezone(UTC) if start else None
        self._offset = timedelta(0)

    def now(self) -> datetime:
        with self._lock:
            base = self._frozen if self._frozen is not None else datetime.now(UTC)
            return base + self._offset

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._offset += delta


# --- what a sandbox holds ---------------------------------------------------------------------

T = TypeVar("T")


class Tenants(Generic[T]):
    """The companies or organisations a sandbox holds, by id, behind one lock: requests on the
    server's threads look them up while a test seeds or resets."""

    def __init__(self, what: str):
        self._what = what  # for the KeyError: "company with realm id", ...
        self._held: dict[str, T] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._held[key] = value

    def find(self, key: str) -> T | None:
        with self._lock:
            return self._held.get(key)

    def get(self, key: str) -> T:
        """The tenant, or KeyError (an admin call's 400) when the sandbox holds none by `key`."""
        found = self.find(key)
        if found is None:
            raise KeyError(f"no {self._what} {key}")
        return found

    def all(self) -> dict[str, T]:
        """A copy, in the order they were first seeded."""
        with self._lock:
            return dict(self._held)

    def clear(self) -> None:
        with self._lock:
            self._held.clear()


# --- the server -------------------------------------------------------------------------------


class SandboxServer:
    """Serves an `App` on 127.0.0.1 (an ephemeral port unless told), faults applied first."""

    def __init__(self, app: App, faults: FaultInjector | None = None, port: int = 0):
        self.app = app
        self.faults = faults or FaultInjector()
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.api_requests = 0  # every request but the admin interface's: what a client paid for
        self._count_lock = threading.Lock()

    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("sandbox server is not started")
        return f"http://{HOST}:{self._httpd.server_address[1]}"

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        try:
            self._httpd = _HTTPServer((HOST, self._port), _Handler)
        except (OSError, OverflowError) as exc:
            raise UserError(_cannot_listen(self._port, exc)) from None
        self._httpd.sandbox = self
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait for the loop
            name=f"sandbox-{self.url}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join()

    def serve_forever(self) -> None:
        """Block until interrupted (Ctrl-C), for running a sandbox from the command line."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(timeout=1)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def dispatch(self, request: Request) -> Response | None:
        """The response to send, or None when the connection must be dropped unanswered.
        Injected errors come from in front of the vendor's gateway (they cost no quota);
        latency is spent inside it, so a slow request holds its concurrency slot."""
        if request.path.startswith(self.app.exempt_prefixes):
            return self.app.handle(request)
        with self._count_lock:
            self.api_requests += 1
        status = self.faults.take_before(request)
        if status is not None:
            return self.app.fault_response(request, status)
        with self.app.admit(request) as refusal:
            if refusal is not None:
                return refusal
            self.faults.delay()
            response = self.app.handle(request)
        if self.faults.take_drop(request):
            return None
        return response


def _cannot_listen(port: int, exc: OSError | OverflowError) -> str:
    if isinstance(exc, OverflowError):
        return f"--port {port}: expected a port number from 1 to 65535 (0: any free port)"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {HOST} is already in use (another sandbox, or another program, is "
            "listening there); stop it or choose another with --port"
        )
    return f"cannot listen on {HOST}:{port}: {exc.strerror or exc}; choose another with --port"


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sandbox: SandboxServer

    def __init__(self, *args: Any, **kwargs: Any):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def track(self, conn: socket.socket, open_: bool) -> None:
        with self._connections_lock:
            if open_:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def close_connections(self) -> None:
        """Kept-alive client connections would otherwise outlive the server."""
        with self._connections_lock:
            conns = list(self._connections)
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to many responses
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read what the sandbox holds, not its access log."""

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        try:
            response = self.server.sandbox.dispatch(request)
        except Exception as e:  # a sandbox bug: say so, rather than reset the connection
            log.exception("sandbox failed on %s", request.line)
            response = Response.json(500, {"sandbox_error": f"{type(e).__name__}: {e}"})
        if response is None:
            self._reset_connection()
            return
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def _reset_connection(self) -> None:
        """Close with RST and no response bytes: what a lost response looks like to a client."""
        self.close_connection = True
        with suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch


class Served:
    """What every sandbox does with its server: start and stop (or a with-block), serve until
    Ctrl-C, say its address, and count the requests a client paid for."""

    _server: SandboxServer

    def start(self) -> Self:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_requests(self) -> int:
        """Requests served outside the admin interface, for benchmarks and call counts."""
        return self._server.api_requests
