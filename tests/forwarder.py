"""A TCP forwarder on loopback that the test can freeze or stop: a hung or stopped S3 (or database).

While frozen, connections are accepted and bytes are read, but nothing is passed on in either
direction; :attr:`Forwarder.held` counts the connections holding back bytes, so a test can wait
for "these requests are now stuck on storage" by events instead of by sleeping. While stopped,
every open connection is cut and new ones are closed at once, as by a server that went away.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class Forwarder:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._open = threading.Event()
        self._open.set()
        self._lock = threading.Lock()
        self._held: set[int] = set()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._closed = False
        self._stopped = False
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def held(self) -> int:
        """Connections with bytes waiting to be passed on while frozen."""
        with self._lock:
            return len(self._held)

    def freeze(self) -> None:
        self._open.clear()

    def thaw(self) -> None:
        self._open.set()

    def stop(self) -> None:
        """Cut every connection and refuse new ones until :meth:`resume`."""
        self._stopped = True
        with self._lock:
            cut, self._connections = self._connections, set()
        for connection in cut:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def resume(self) -> None:
        self._stopped = False

    def start(self) -> None:
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._open.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._stopped:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if not self._open.is_set():
                    with self._lock:
                        self._held.add(id(source))
                    self._open.wait()
                    with self._lock:
                        self._held.discard(id(source))
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)


@contextmanager
def forwarding(url: str) -> Iterator[Forwarder]:
    """A forwarder to ``url``'s host and port (``http://host:port``)."""
    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    forwarder = Forwarder(host, int(port))
    forwarder.start()
    try:
        yield forwarder
    finally:
        forwarder.close()
