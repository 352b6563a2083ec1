"""TLS server contexts for every door: HTTPS, DICOM TLS and MLLP over TLS.

One profile for all three, the DICOM "BCP 195 RFC 8996 TLS Profile" (PS3.15 B.13; RFC 8996
retires TLS 1.0/1.1, RFC 9325/BCP 195 recommends the suites below), which also satisfies the
MHLW guideline's "TLS 1.2 high-security setting" (IPA/CRYPTREC TLS 暗号設定ガイドライン
高セキュリティ型: TLS 1.2+, ECDHE/DHE key exchange, AES-GCM/ChaCha20-Poly1305 only):

* TLS 1.2 minimum, TLS 1.3 preferred (its suites are all AEAD);
* TLS 1.2 suites: forward-secret key exchange and AEAD ciphers only — no CBC, no RSA key
  transport, no SHA-1 MACs, no export/NULL/anonymous suites;
* no TLS compression, no renegotiation, server's suite order;
* optional node authentication (mutual TLS): the client must present a certificate that
  chains to ``tls_ca_file`` or the handshake fails.
"""

from __future__ import annotations

import ssl

from raddx.config import Settings

__all__ = ["BCP195_TLS12_CIPHERS", "check_tls_settings", "server_context"]

#: TLS 1.2 suites (OpenSSL names) of BCP 195 (RFC 9325 4.2) in our order of preference.
#: IANA names: TLS_ECDHE_{ECDSA,RSA}_WITH_AES_{128,256}_GCM_SHA{256,384},
#: TLS_ECDHE_{ECDSA,RSA}_WITH_CHACHA20_POLY1305_SHA256, TLS_DHE_RSA_WITH_AES_{128,256}_GCM_*.
BCP195_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
    )
)


def check_tls_settings(settings: Settings) -> None:
    """Refuse a TLS configuration that cannot work, before any port is opened.

    Raises
    ------
    ValueError
        A TLS port is set without ``tls_cert_file``/``tls_key_file``; mutual TLS without
        ``tls_ca_file``; ``tls_only`` with no TLS port at all.
    """
    tls_ports = (settings.https_port, settings.dicom_tls_port, settings.hl7_tls_port)
    if any(tls_ports) and (settings.tls_cert_file is None or settings.tls_key_file is None):
        raise ValueError("a TLS port is set: tls_cert_file and tls_key_file are required")
    if settings.tls_require_client_cert and settings.tls_ca_file is None:
        raise ValueError("tls_require_client_cert needs tls_ca_file (the clients' CA)")
    if settings.tls_only and not any(tls_ports):
        raise ValueError("tls_only is set but no TLS port (https_port, dicom_tls_port, ...) is")


def server_context(settings: Settings) -> ssl.SSLContext:
    """The server-side context for the configured certificate, key and client-CA.

    Raises
    ------
    ValueError
        See :func:`check_tls_settings`.
    OSError, ssl.SSLError
        The certificate or key cannot be read or do not match.
    """
    check_tls_settings(settings)
    if settings.tls_cert_file is None or settings.tls_key_file is None:
        raise ValueError("tls_cert_file and tls_key_file are required for TLS")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(BCP195_TLS12_CIPHERS)
    context.options |= (
        ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    )
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if settings.tls_ca_file is not None:
        context.load_verify_locations(cafile=settings.tls_ca_file)
        context.verify_mode = (
            ssl.CERT_REQUIRED if settings.tls_require_client_cert else ssl.CERT_OPTIONAL
        )
    return context
