"""The DIMSE listener: one AE with the handlers bound, serving on a pre-bound socket.

The socket is bound once by the parent process and shared by pre-forked workers
(:mod:`raddx.server`); every worker runs a :class:`DimseServer` on it. Pre-forking on one
shared socket gives each process its own GIL (+25–40 % with two senders) and, unlike
SO_REUSEPORT, balances few peers evenly (``../shared/reference/ingest-ceiling.md`` §2).
"""

from __future__ import annotations

import functools
import logging
import socket
import socketserver
import ssl
import threading
from typing import Any

from pynetdicom import AE, evt
from pynetdicom import _config as pynetdicom_config
from pynetdicom.sop_class import PatientRootQueryRetrieveInformationModelGet as PatientRootGet
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet as StudyRootGet
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer
from sqlalchemy.orm import sessionmaker

from raddx.archive import IngestService, RetrieveService
from raddx.archive.query import QueryService, WorklistService
from raddx.config import Settings, ValidationModeValues
from raddx.dimse import _audit as dimse_audit
from raddx.dimse._command_codec import install as install_command_codec
from raddx.dimse._tuning import apply_reactor_tuning, set_nodelay
from raddx.dimse.acceptance import handle_requested, handle_store_checked
from raddx.dimse.balance import LoadBoard, left_to_another
from raddx.dimse.commitment import commitment_contexts, handle_n_action
from raddx.dimse.contexts import (
    cheap_copy_contexts,
    find_contexts,
    mpps_contexts,
    retrieve_contexts,
    storage_contexts,
    verification_contexts,
    worklist_contexts,
)
from raddx.dimse.fast_path import FastPath
from raddx.dimse.fast_qr import find_handler, get_handler
from raddx.dimse.find import FIND_MODELS, extended_reply, handle_sop_extended
from raddx.dimse.handlers import handle_association_end, handle_echo, store_received
from raddx.dimse.mpps import handle_n_create, handle_n_set
from raddx.dimse.retrieve import handle_get, handle_move
from raddx.dimse.worklist import handle_c_find, worklist_handler
from raddx.remotes import RemoteAERegistry
from raddx.security.peers import DicomPeerPolicy, security_alert

__all__ = ["DimseServer", "listen_socket"]

log = logging.getLogger(__name__)


def listen_socket(host: str, port: int, backlog: int = 128) -> socket.socket:
    """Bind and listen; non-blocking so that workers sharing it never hang in ``accept``
    after another worker took the connection (``socketserver`` then just polls again)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _PreboundServer(ThreadedAssociationServer):
    """pynetdicom's threaded server, adopting an already listening socket."""

    daemon_threads = True
    #: Serves the simple associations without pynetdicom (set by :class:`DimseServer`).
    fast_path: FastPath | None = None
    #: Shared with the other workers to balance associations (set by :class:`DimseServer`).
    board: LoadBoard | None = None
    slot = 0
    #: DICOM TLS: accepted connections are wrapped in it; the handshake runs on the
    #: connection's own thread, so a slow or hostile client never stalls the accept loop.
    tls: ssl.SSLContext | None = None

    def __init__(self, *args: Any, listen_socket: socket.socket, **kwargs: Any) -> None:
        self._prebound = listen_socket
        super().__init__(*args, **kwargs)

    def process_request_thread(
        self, request: socket.socket, client_address: tuple[str, int]
    ) -> None:
        """Runs on the connection's own thread: the fast path takes the association if it
        qualifies (it only peeks before deciding), pynetdicom otherwise."""
        if isinstance(request, ssl.SSLSocket) and not self._handshake(request, client_address):
            return
        fast_path = self.fast_path
        if fast_path is not None:
            dimse_audit.association_started(client_address[0])
            try:
                if fast_path.try_serve(request, client_address):
                    return
            except Exception:
                log.exception("fast-path association failed peer=%s", client_address[0])
                self.shutdown_request(request)
                return
            finally:
                dimse_audit.association_ended()  # one audit event per stored study
                self.publish_load()
        super().process_request_thread(request, client_address)

    def _handshake(self, request: ssl.SSLSocket, client_address: tuple[str, int]) -> bool:
        """Complete the TLS handshake within the ACSE timeout; a failure (old protocol, no or
        untrusted client certificate) is a security alert and closes the connection."""
        request.settimeout(self.ae.acse_timeout)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as exc:
            security_alert(
                "DICOM TLS handshake failed",
                subject=client_address[0],
                peer=client_address[0],
                reason=exc,
            )
            self.shutdown_request(request)
            return False
        request.settimeout(None)
        return True

    def publish_load(self) -> None:
        """Tell the other workers how many associations this one serves now."""
        if self.board is not None:
            fast = self.fast_path.active_count if self.fast_path is not None else 0
            self.board.publish(self.slot, fast + len(self.active_associations))

    def service_actions(self) -> None:
        """Called by ``serve_forever`` at least every poll interval: keeps the published load
        current as pynetdicom's associations end (they have no end hook of ours)."""
        super().service_actions()
        self.publish_load()

    def server_bind(self) -> None:
        if self.socket is not None:
            self.socket.close()
        self.socket = self._prebound
        self.server_address = self.socket.getsockname()

    def server_activate(self) -> None:
        """Already listening (bound by the parent before forking)."""

    def shutdown(self) -> None:
        """Stop ``serve_forever``. pynetdicom's version also unregisters from the AE's list of
        started servers, which this server (made with ``make_server``) never joined."""
        socketserver.BaseServer.shutdown(self)

    def server_close(self) -> None:
        """Close only this process's handle. pynetdicom's version calls ``shutdown(SHUT_RDWR)``
        on the listening socket, which would stop the other workers sharing it."""
        if self.socket is not None:
            self.socket.close()

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        if self.board is not None:
            self.publish_load()
            if left_to_another(self.socket, self.board, self.slot):
                raise BlockingIOError("taken by a less busy worker")  # socketserver moves on
        client, address = super().get_request()  # BlockingIOError if another worker took it
        if self.board is not None:
            self.board.publish(self.slot, self.board.load(self.slot) + 1)
        client.setblocking(True)
        set_nodelay(client)
        if self.tls is not None:
            client = self.tls.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address


class DimseServer:
    """Accepts associations for C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE on ``sock``.

    Parameters
    ----------
    settings
        AE title, tuning and acceptance policy.
    ingest
        The service every C-STORE is handed to.
    sock
        A listening socket from :func:`listen_socket`.
    session_factory
        Sessions on the index, for C-FIND, C-GET and C-MOVE.
    board, slot
        With several worker processes: the shared load board and this worker's slot in it.
    ssl_context
        Serve DICOM TLS (PS3.15 B.13) on ``sock`` with this context
        (:func:`raddx.security.tls.server_context`). TLS associations are served by pynetdicom
        only: the fast path peeks at the plain socket, which TLS hides.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        ingest: IngestService,
        sock: socket.socket,
        session_factory: sessionmaker[Any],
        board: LoadBoard | None = None,
        slot: int = 0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        apply_reactor_tuning(settings.dicom_poll_interval)
        install_command_codec()
        # pynetdicom decodes and prints every C-FIND/C-GET/C-MOVE request identifier at INFO
        # (PHI in the log, against ARCHITECTURE's logging rule) and pretty-prints every C-FIND
        # response identifier for DEBUG even when DEBUG is off (~4 % of a C-FIND's time).
        pynetdicom_config.LOG_REQUEST_IDENTIFIERS = False
        pynetdicom_config.LOG_RESPONSE_IDENTIFIERS = False
        ae = AE(ae_title=settings.ae_title)
        ae.maximum_pdu_size = 0  # unlimited: fewer, larger P-DATA PDUs from the peer
        ae.require_called_aet = settings.require_called_ae_title
        ae.maximum_associations = 64
        ae.network_timeout = 60
        ae.dimse_timeout = 60
        ae.acse_timeout = 30
        pynetdicom_only = [
            *find_contexts(),
            *retrieve_contexts(),
            *commitment_contexts(),
            *worklist_contexts(),
            *mpps_contexts(),
        ]
        for context in [*verification_contexts(), *pynetdicom_only]:
            assert context.abstract_syntax is not None  # built from named SOP classes
            ae.add_supported_context(context.abstract_syntax, context.transfer_syntax)
        for context in storage_contexts():
            assert context.abstract_syntax is not None
            # Role selection (PS3.7 D.3.3.4): a C-GET requestor proposes the storage classes
            # with itself as SCP, so that we can send the C-STORE sub-operations back to it.
            ae.add_supported_context(
                context.abstract_syntax, context.transfer_syntax, scu_role=True, scp_role=True
            )
        retrieve = RetrieveService(session_factory, ingest.blobs)
        # Association acceptance (issue 9): local peers, else registered AEs and their services.
        policy = DicomPeerPolicy.from_registry(settings, session_factory)
        self._ae = ae
        self._server = ae.make_server(
            sock.getsockname()[:2],
            evt_handlers=[
                (evt.EVT_REQUESTED, handle_requested, [policy]),
                (evt.EVT_C_ECHO, handle_echo),
                (evt.EVT_RELEASED, handle_association_end),
                (evt.EVT_ABORTED, handle_association_end),
                (evt.EVT_CONN_CLOSE, handle_association_end),
                (evt.EVT_C_STORE, handle_store_checked, [ingest]),
                (
                    evt.EVT_C_FIND,
                    handle_c_find,
                    [
                        QueryService(session_factory),
                        WorklistService(session_factory),
                        settings.max_find_matches,
                    ],
                ),
                (evt.EVT_SOP_EXTENDED, handle_sop_extended),
                (evt.EVT_C_GET, handle_get, [retrieve]),
                (
                    evt.EVT_C_MOVE,
                    handle_move,
                    [retrieve, settings, RemoteAERegistry(settings, session_factory)],
                ),
                (evt.EVT_N_ACTION, handle_n_action, [retrieve, settings]),
                # MPPS forwarding: queued for mpps_forward_aes in the outbox (issue 6 §5).
                (
                    evt.EVT_N_CREATE,
                    handle_n_create,
                    [session_factory, bool(settings.mpps_forward_aes)],
                ),
                (
                    evt.EVT_N_SET,
                    handle_n_set,
                    [
                        session_factory,
                        bool(settings.mpps_forward_aes),
                        settings.validation_mode is ValidationModeValues.STRICT,
                    ],
                ),
            ],
            server_class=_PreboundServer,
            contexts=cheap_copy_contexts(ae.supported_contexts),
            listen_socket=sock,
        )
        self._server.tls = ssl_context
        if settings.dicom_fast_path and ssl_context is None:
            self._server.fast_path = self._fast_path(
                ae, settings, ingest, retrieve, session_factory, policy
            )
        self._server.board = board
        self._server.slot = slot
        self._thread: threading.Thread | None = None

    def _fast_path(
        self,
        ae: AE,
        settings: Settings,
        ingest: IngestService,
        retrieve: RetrieveService,
        session_factory: sessionmaker[Any],
        policy: DicomPeerPolicy,
    ) -> FastPath:
        """Echo, store, C-FIND and C-GET on raddx's own loop (:mod:`.fast_path`); C-MOVE and
        commitment, which open associations of their own, stay with pynetdicom."""
        find = find_handler(QueryService(session_factory), settings.max_find_matches)
        get = get_handler(retrieve)
        services = {str(uid): find for uid in FIND_MODELS} | {
            str(uid): get for uid in (PatientRootGet, StudyRootGet)
        }
        worklist = worklist_handler(WorklistService(session_factory), settings.max_find_matches)
        services |= {str(c.abstract_syntax): worklist for c in worklist_contexts()}
        fast_syntaxes = {
            *services,
            Verification,
            *(str(c.abstract_syntax) for c in storage_contexts()),
        }
        server = self._server
        return FastPath(
            ae=ae,
            contexts=[c for c in server.contexts if str(c.abstract_syntax) in fast_syntaxes],
            other_abstract_syntaxes=[
                str(c.abstract_syntax)
                for c in server.contexts
                if str(c.abstract_syntax) not in fast_syntaxes
            ],
            store=functools.partial(store_received, ingest),
            services=services,
            extended_reply=extended_reply,
            active_elsewhere=lambda: len(server.active_associations),
            policy=policy,
        )

    @property
    def running(self) -> bool:
        """True while its background thread serves (the status page reports it)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            daemon=True,
            name="dimse-accept",
        )
        self._thread.start()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` is called from another one."""
        self._server.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop accepting, abort open associations, close this process's socket handle."""
        self._server.shutdown()
        if self._server.fast_path is not None:
            self._server.fast_path.abort_all()
        for assoc in list(self._server.active_associations):
            assoc.abort()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
