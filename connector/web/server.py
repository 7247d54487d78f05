"""Serving the dashboard: waitress, a pure-Python threaded WSGI server, on 127.0.0.1 by default.

Any other address needs the access token in the keyring (`connector serve --new-token` makes
one); without it the dashboard refuses to start and says how to make one. `Dashboard` runs the
server in a thread (for `connector run --serve` and the demo) or in the foreground
(`connector serve`).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.server import TcpWSGIServer, create_server

from connector.errors import UserError
from connector.web import DEFAULT_HOST, access
from connector.web.app import make_app
from connector.web.readers import Folder

LOOP_SECONDS = 0.5  # how long a stop may wait for the loop to look (a trigger wakes it sooner)


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, option: str = "--serve") -> Address:
        """`HOST:PORT`, `[::1]:PORT` or `PORT` alone (on 127.0.0.1)."""
        host, sep, port = text.rpartition(":")
        if not sep:
            host, port = DEFAULT_HOST, text
        host = host.strip("[]") or DEFAULT_HOST
        if not port.isdigit() or not 0 <= int(port) <= 65535:
            raise UserError(f"{option}: expected HOST:PORT like 127.0.0.1:8080, got {text!r}")
        return cls(host, int(port))

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"


class Dashboard:
    """The dashboard over `folder`, bound to `address` as soon as it is made (so a port that
    is taken is refused before anything else starts)."""

    def __init__(self, folder: Folder, address: Address, *, threads: int = 4):
        loopback = access.is_loopback(address.host)
        token = None if loopback else access.stored_token()
        if not loopback and not token:
            raise UserError(
                f"the dashboard on {address.host} (not this machine's loopback address) needs "
                "an access token: run `connector serve --new-token` once, or serve on "
                "127.0.0.1 and reach it over an SSH tunnel"
            )
        self.needs_token = token is not None
        app = make_app(folder, token=token, loopback=loopback)
        self._map: dict[int, Any] = {}  # the server's sockets and connections: ours to close
        try:
            server = create_server(
                app,
                map=self._map,
                host=address.host,
                port=address.port,
                threads=threads,
                ident=None,
                clear_untrusted_proxy_headers=True,
            )
        except OSError as exc:
            raise UserError(
                f"the dashboard cannot listen on {address.host}:{address.port}: {exc.strerror}"
            ) from None
        # one address, so one TCP server (a MultiSocketServer serves several `listen`s)
        assert isinstance(server, TcpWSGIServer)
        self.server = server
        self.address = Address(address.host, int(server.getsockname()[1]))  # port 0: the one given
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def greeting(self) -> str:
        """What is said at start: where it is, and whether a token is asked."""
        if self.needs_token:
            return (
                f"dashboard on {self.address.url} (read-only); it asks every visitor for the "
                "access token in the keyring (any user name, the token as password)"
            )
        return f"dashboard on {self.address.url} (read-only, this machine only)"

    def serve_forever(self) -> None:
        """Serve until `stop` (or Ctrl-C in the foreground); then every connection is closed
        here, in the thread that serves them, and the worker threads are ended."""
        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=LOOP_SECONDS, map=self._map, count=1)
        finally:
            for channel in list(self._map.values()):
                channel.close()
            self.server.task_dispatcher.shutdown()

    def start(self) -> Dashboard:
        """Serve in a daemon thread; `stop` ends it."""
        self._thread = threading.Thread(target=self.serve_forever, name="dashboard", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is None:  # never served: only its socket to close
            self.server.close()
            return
        # wake the loop now rather than at its next timeout; a loop that saw the flag first
        # has closed its channels, the trigger among them (EBADF): it is ending anyway
        with contextlib.suppress(OSError):
            self.server.pull_trigger()
        self._thread.join(timeout=5)

    def __enter__(self) -> Dashboard:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
