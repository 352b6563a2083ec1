"""A TLS syslog collector on loopback (RFC 5425 octet-counted frames), the Audit Record
Repository peer of the audit trail's tests."""

from __future__ import annotations

import socket
import ssl
import threading

import trustme

__all__ = ["Collector"]


class Collector:
    """A TLS syslog receiver on loopback that parses RFC 5425 octet-counted frames."""

    def __init__(self, ca: trustme.CA) -> None:
        cert = ca.issue_cert("127.0.0.1", "localhost")
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(self.context)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frames: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.listener.accept()
            except OSError:
                return
            try:
                conn = self.context.wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError):
                continue  # a client that does not trust us: its handshake fails, we go on
            with conn:
                buffer = b""
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    buffer += data
                    while b" " in buffer:
                        length, rest = buffer.split(b" ", 1)
                        if len(rest) < int(length):
                            break
                        self.frames.append(rest[: int(length)])
                        buffer = rest[int(length) :]

    def close(self) -> None:
        self.listener.close()
