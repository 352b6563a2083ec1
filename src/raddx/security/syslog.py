"""Audit messages to an Audit Record Repository: syslog over TLS (IHE ATNA ITI-20).

Each message is an RFC 5424 syslog message whose MSG is the PS3.15 A.5 XML, with PRI 85
(facility 10 security/authorization × 8 + severity 5 notice) and MSGID ``IHE+RFC-3881`` as
ITI TF-2 3.20.4.1.2 asks, framed by octet counting (RFC 5425 4.3: ``MSG-LEN SP SYSLOG-MSG``)
on a TLS connection (RFC 5425, port 6514; TLS 1.2 or later, the server's certificate verified,
our client certificate offered when configured: ITI-19 node authentication).

Every message also carries, as RFC 5424 structured data, the audit chain's ``(seq, hash)`` of
the record it is (:data:`CHAIN_SD_ID`): the collector's archive is then a stream of anchors
(:mod:`raddx.security.audit_anchor`) kept outside the database without anyone running
``raddx audit anchor``, and ``raddx audit verify --anchor <collector log>`` reads them back.

Framing (:func:`frame`) is kept apart from transport (:class:`SyslogSender`). The sender is
fed by the audit writer after each commit and never blocks it: messages wait in a bounded
in-memory backlog while the collector is unreachable (they are safe in the audit log
meanwhile) and go out in order once it is back.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import socket
import ssl
import threading
from pathlib import Path

__all__ = ["CHAIN_SD_ID", "MSGID", "PRI", "SyslogSender", "frame", "syslog_message"]

log = logging.getLogger(__name__)

#: <facility 10 (security/authorization) * 8 + severity 5 (notice)>.
PRI = 85
MSGID = "IHE+RFC-3881"
_NILVALUE = "-"
#: SD-ID of the chain anchor element, ``[raddx-chain@32473 seq="…" hash="…"]``. A private
#: SD-ID needs ``@`` + an IANA Private Enterprise Number (RFC 5424 7.2.2); raddx has none
#: registered yet, so this uses 32473, the number RFC 5612 reserves for documentation.
CHAIN_SD_ID = "raddx-chain@32473"


def _printable(text: str, limit: int) -> str:
    """RFC 5424 6.2 header fields: PRINTUSASCII (33-126), bounded length, NILVALUE if empty."""
    clean = "".join(ch for ch in text if 33 <= ord(ch) <= 126)[:limit]
    return clean or _NILVALUE


def syslog_message(
    xml: bytes,
    *,
    hostname: str,
    app_name: str = "raddx",
    procid: int | None = None,
    timestamp: dt.datetime | None = None,
    chain: tuple[int, str] | None = None,
) -> bytes:
    """One RFC 5424 message: ``<85>1 TIMESTAMP HOST APP PROCID IHE+RFC-3881 SD XML``, SD
    being the record's chain position ``chain`` = ``(seq, hash)`` (or ``-`` without one). The
    values are digits and hex, so no SD escaping is needed."""
    when = (timestamp or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    header = " ".join(
        (
            f"<{PRI}>1",
            when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            _printable(hostname, 255),
            _printable(app_name, 48),
            _printable(str(procid if procid is not None else os.getpid()), 128),
            MSGID,
            _NILVALUE if chain is None else f'[{CHAIN_SD_ID} seq="{chain[0]}" hash="{chain[1]}"]',
        )
    )
    return header.encode("ascii") + b" " + xml


def frame(message: bytes) -> bytes:
    """RFC 5425 4.3 octet-counting frame: the message length in decimal, a space, the bytes."""
    return str(len(message)).encode("ascii") + b" " + message


class SyslogSender:
    """Sends framed messages to ``host:port`` over TLS from a background thread.

    Parameters
    ----------
    host, port
        The collector.
    ca_file
        CA bundle its certificate is checked against (``None``: the system's).
    cert_file, key_file
        Our client certificate for mutual TLS, optional.
    backlog
        Most messages waiting; the oldest are dropped (with a warning) beyond that.
    hostname
        The HOSTNAME field of our messages.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ca_file: Path | None = None,
        cert_file: Path | None = None,
        key_file: Path | None = None,
        backlog: int = 100000,
        hostname: str | None = None,
        app_name: str = "raddx",
        retry_max: float = 30.0,
    ) -> None:
        self._address = (host, port)
        self._context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=str(ca_file) if ca_file else None
        )
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        if cert_file is not None:
            self._context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
        self._hostname = hostname or socket.gethostname()
        self._app_name = app_name
        self._retry_max = retry_max
        self._pending: collections.deque[bytes] = collections.deque()
        self._backlog = backlog
        self._dropped = 0
        self._cond = threading.Condition()
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self.sent = 0
        self._thread = threading.Thread(target=self._run, name="audit-syslog", daemon=True)
        self._thread.start()

    def send(self, xml: bytes, chain: tuple[int, str] | None = None) -> None:
        """Queue one audit message, with its chain ``(seq, hash)`` (never blocks)."""
        message = frame(
            syslog_message(xml, hostname=self._hostname, app_name=self._app_name, chain=chain)
        )
        with self._cond:
            if len(self._pending) >= self._backlog:
                self._pending.popleft()
                self._dropped += 1
                if self._dropped in (1, 10, 100) or self._dropped % 1000 == 0:
                    log.warning(
                        "syslog backlog full; oldest audit messages dropped=%d", self._dropped
                    )
            self._pending.append(message)
            self._idle.clear()
            self._cond.notify()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until everything queued has been written to the collector (tests, shutdown)."""
        return self._idle.wait(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Try to send what is queued (up to ``timeout``), then stop."""
        self.wait_idle(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout)

    def _connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection(self._address, timeout=10)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._context.wrap_socket(raw, server_hostname=self._address[0])

    def _run(self) -> None:
        conn: ssl.SSLSocket | None = None
        delay = 0.2
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._idle.set()
                    self._cond.wait()
                if self._closed:
                    break
                message = self._pending[0]
            try:
                if conn is None:
                    conn = self._connect()
                conn.sendall(message)
            except OSError as exc:
                log.warning(
                    "audit syslog collector unreachable address=%s:%d error=%s", *self._address, exc
                )
                if conn is not None:
                    conn.close()
                    conn = None
                with self._cond:
                    self._cond.wait(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            delay = 0.2
            with self._cond:
                if self._pending and self._pending[0] is message:
                    self._pending.popleft()
                self.sent += 1
        if conn is not None:
            conn.close()
