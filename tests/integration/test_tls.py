"""Transport security (issue 9): DICOM TLS, HTTPS and MLLP/TLS with a throw-away CA (trustme).

The profile (raddx.security.tls): TLS 1.0/1.1 and non-AEAD TLS 1.2 suites fail the handshake,
TLS 1.2/1.3 succeed, mutual TLS refuses a client without a trusted certificate; DCMTK's
echoscu/storescu talk to the DICOM TLS port with ``+tls``; ``raddx serve`` in ``tls_only``
mode opens no plain port and answers HTTPS with the security headers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme
from pydicom import dcmread
from pynetdicom import AE
from pynetdicom.sop_class import Verification
from sqlalchemy import func, select

from dicom_factory import write_files
from helpers import free_port, run_tool, start_dimse_server, wait_for
from raddx.config import Settings, load_settings
from raddx.db.models import Instance
from raddx.dimse import DimseServer, listen_socket
from raddx.hl7 import MllpServer
from raddx.security.tls import server_context
from raddx.services import Services

pytestmark = pytest.mark.dcmtk

Tool = Callable[[str], str]


@dataclass
class Pki:
    """A throw-away CA, the server's certificate and a client certificate, as PEM files."""

    ca: trustme.CA
    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client: trustme.LeafCert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("modality.example.org")
    paths = {
        "ca_file": root / "ca.pem",
        "server_cert": root / "server.pem",
        "server_key": root / "server.key",
        "client_cert": root / "client.pem",
        "client_key": root / "client.key",
    }
    ca.cert_pem.write_to_path(str(paths["ca_file"]))
    server.cert_chain_pems[0].write_to_path(str(paths["server_cert"]))
    server.private_key_pem.write_to_path(str(paths["server_key"]))
    client.cert_chain_pems[0].write_to_path(str(paths["client_cert"]))
    client.private_key_pem.write_to_path(str(paths["client_key"]))
    return Pki(ca=ca, client=client, **paths)


def _tls_settings(tmp_path: Path, pki: Pki, *, mutual: bool = False, **extra: object) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        tls_cert_file=pki.server_cert,
        tls_key_file=pki.server_key,
        tls_ca_file=pki.ca_file,
        tls_require_client_cert=mutual,
        dicom_tls_port=2762,  # only checked for consistency; the tests bind port 0
        **extra,
    )


@pytest.fixture(params=[False, True], ids=["server-auth", "mutual"])
def mutual(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def tls_services(tmp_path: Path, pki: Pki, mutual: bool) -> Iterator[Services]:
    svc = Services.from_settings(_tls_settings(tmp_path, pki, mutual=mutual))
    yield svc
    svc.close()


@pytest.fixture
def dicom_tls(tls_services: Services) -> Iterator[DimseServer]:
    server = DimseServer(
        settings=tls_services.settings,
        ingest=tls_services.ingest,
        sock=listen_socket("127.0.0.1", 0),
        session_factory=tls_services.session_factory,
        ssl_context=server_context(tls_services.settings),
    )
    server.start()
    yield server
    server.stop()


def _client_context(pki: Pki, *, with_cert: bool = True) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if with_cert:
        pki.client.configure_cert(context)
    return context


def _handshake(port: int, context: ssl.SSLContext) -> str:
    """Handshake and one read (a TLS 1.3 server reports a client-certificate failure only
    after the client's handshake completed); returns the negotiated version."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        version = str(tls.version())
        tls.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            tls.recv(1)  # the server waits for an A-ASSOCIATE-RQ: nothing comes
        return version


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["TLS1.0", "TLS1.1"]
)
def test_old_tls_versions_refused(
    pki: Pki, dicom_tls: DimseServer, version: ssl.TLSVersion
) -> None:
    context = _client_context(pki)
    with warnings.catch_warnings():  # the client side deliberately uses what is deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = version
        context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client really offer them
    with pytest.raises(ssl.SSLError):
        _handshake(dicom_tls.address[1], context)


@pytest.mark.parametrize(
    ("version", "name"),
    [(ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")],
)
def test_tls12_and_tls13_accepted(
    pki: Pki, dicom_tls: DimseServer, version: ssl.TLSVersion, name: str
) -> None:
    context = _client_context(pki)
    context.minimum_version = version
    context.maximum_version = version
    assert _handshake(dicom_tls.address[1], context) == name


def test_cbc_suite_refused(pki: Pki, dicom_tls: DimseServer) -> None:
    context = _client_context(pki)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:AES128-SHA")
    with pytest.raises(ssl.SSLError):
        _handshake(dicom_tls.address[1], context)


def test_client_certificate_required_with_mutual_tls(
    pki: Pki, dicom_tls: DimseServer, mutual: bool
) -> None:
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(Verification)
    context = _client_context(pki, with_cert=False)
    assoc = ae.associate("127.0.0.1", dicom_tls.address[1], tls_args=(context, "127.0.0.1"))
    assert assoc.is_established is (not mutual)
    if assoc.is_established:
        assoc.release()
    elif assoc.dul.socket is not None and assoc.dul.socket.socket is not None:
        assoc.dul.socket.socket.close()  # pynetdicom leaves a refused TLS socket open
    assoc = ae.associate(
        "127.0.0.1", dicom_tls.address[1], tls_args=(_client_context(pki), "127.0.0.1")
    )
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


def test_dcmtk_echo_and_store_over_tls(
    dcmtk: Tool, pki: Pki, dicom_tls: DimseServer, tls_services: Services, tmp_path: Path
) -> None:
    port = str(dicom_tls.address[1])
    tls = ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_file)]
    echo = run_tool([dcmtk("echoscu"), *tls, "127.0.0.1", port])
    assert echo.returncode == 0, echo.stderr
    files = write_files(tmp_path / "in", 3)
    store = run_tool([dcmtk("storescu"), *tls, "127.0.0.1", port, *map(str, files)])
    assert store.returncode == 0, store.stderr
    with tls_services.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 3
    # The plain protocol on the TLS port gets nowhere.
    plain = run_tool([dcmtk("echoscu"), "-to", "5", "127.0.0.1", port])
    assert plain.returncode != 0


def test_dcmtk_find_over_tls_answers_every_match(
    dcmtk: Tool, pki: Pki, dicom_tls: DimseServer, tls_services: Services, tmp_path: Path
) -> None:
    """C-FIND over TLS: answers leave through pynetdicom's own writer (the direct write path
    needs a plain socket), each pending response and the final one arrive, Japanese names
    intact (ISO 2022 IR 87 in and out)."""
    name = "Yamada^Tarou=山田^太郎=やまだ^たろう"
    for n in range(5):
        write_files(
            tmp_path / f"s{n}",
            1,
            patient_id=f"TLS{n}",
            patient_name=name,
            charset=["", "ISO 2022 IR 87"],  # type: ignore[arg-type]
        )
    files = sorted(str(f) for f in tmp_path.glob("s*/*.dcm"))
    port = str(dicom_tls.address[1])
    tls = ["+tls", str(pki.client_key), str(pki.client_cert), "+cf", str(pki.ca_file)]
    store = run_tool([dcmtk("storescu"), *tls, "127.0.0.1", port, *files])
    assert store.returncode == 0, store.stderr
    out = tmp_path / "answers"
    out.mkdir()
    find = run_tool(
        [
            dcmtk("findscu"),
            *tls,
            "-S",
            "-aec",
            "RADDX",
            "-X",
            "-od",
            str(out),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            "PatientID=TLS*",
            "-k",
            "PatientName",
            "-k",
            "SpecificCharacterSet=\\ISO 2022 IR 87",
            "127.0.0.1",
            port,
        ]
    )
    assert find.returncode == 0, find.stderr
    answers = [dcmread(f) for f in sorted(out.iterdir())]
    assert sorted(a.PatientID for a in answers) == [f"TLS{n}" for n in range(5)]
    assert {str(a.PatientName) for a in answers} == {name}


def test_plain_dimse_port_unaffected(dcmtk: Tool, tls_services: Services) -> None:
    """The same settings' plain door still serves plain DICOM (unless tls_only)."""
    server = start_dimse_server(tls_services)
    try:
        result = run_tool([dcmtk("echoscu"), "127.0.0.1", str(server.address[1])])
        assert result.returncode == 0, result.stderr
    finally:
        server.stop()


def test_mllp_over_tls(pki: Pki, tls_services: Services, mutual: bool) -> None:
    server = MllpServer(
        lambda block: b"MSH|^~\\&|RADDX|||||||ACK|1|P|2.5\rMSA|AA|1\r",
        "127.0.0.1",
        0,
        ssl_context=server_context(tls_services.settings),
    )
    server.start()
    try:
        with (
            socket.create_connection(server.address, timeout=10) as raw,
            _client_context(pki).wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(b"\x0bMSH|^~\\&|HIS||RADDX||||ADT^A08|1|P|2.5\r\x1c\r")
            answer = b""
            while not answer.endswith(b"\x1c\r"):
                chunk = tls.recv(4096)
                assert chunk, "connection closed before the ACK"
                answer += chunk
        assert b"MSA|AA|1" in answer
    finally:
        server.stop()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_serve_tls_only(tmp_path: Path, pki: Pki, dcmtk: Tool) -> None:
    """``raddx serve`` with tls_only: HTTPS (with HSTS and the other headers), DICOM TLS and
    MLLP/TLS answer; the plain HTTP, DICOM and HL7 ports stay closed."""
    ports = {name: free_port() for name in ("http", "https", "dicom", "dicom_tls", "hl7", "hl7s")}
    env = {
        **os.environ,
        "RADDX_DATA_DIR": str(tmp_path / "data"),
        "RADDX_DICOM_HOST": "127.0.0.1",
        "RADDX_HL7_HOST": "127.0.0.1",
        "RADDX_DICOM_WORKERS": "1",
        "RADDX_HTTP_PORT": str(ports["http"]),
        "RADDX_HTTPS_PORT": str(ports["https"]),
        "RADDX_DICOM_PORT": str(ports["dicom"]),
        "RADDX_DICOM_TLS_PORT": str(ports["dicom_tls"]),
        "RADDX_HL7_PORT": str(ports["hl7"]),
        "RADDX_HL7_TLS_PORT": str(ports["hl7s"]),
        "RADDX_TLS_CERT_FILE": str(pki.server_cert),
        "RADDX_TLS_KEY_FILE": str(pki.server_key),
        "RADDX_TLS_ONLY": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "raddx.cli", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    context = ssl.create_default_context(cafile=str(pki.ca_file))

    def https_health() -> urllib.request.http.client.HTTPResponse | None:  # type: ignore[name-defined]
        try:
            return urllib.request.urlopen(  # type: ignore[no-any-return]
                f"https://127.0.0.1:{ports['https']}/healthz", timeout=2, context=context
            )
        except OSError:
            return None

    try:
        wait_for(lambda: https_health() is not None or process.poll() is not None, 60)
        response = https_health()
        assert response is not None, process.stdout.read() if process.stdout else ""
        headers = response.headers
        assert headers["Strict-Transport-Security"].startswith("max-age=")
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"
        assert _refused(ports["http"]) and _refused(ports["dicom"]) and _refused(ports["hl7"])
        echo = run_tool(
            [
                dcmtk("echoscu"),
                "+tla",
                "+cf",
                str(pki.ca_file),
                "127.0.0.1",
                str(ports["dicom_tls"]),
            ]
        )
        assert echo.returncode == 0, echo.stderr
        with (
            socket.create_connection(("127.0.0.1", ports["hl7s"]), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
