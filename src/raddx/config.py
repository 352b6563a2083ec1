"""Settings: defaults → ``raddx.toml`` → ``RADDX_*`` environment variables.

Every knob of the system lives here with its default and one line saying what it does, so an
operator can read this file (or ``raddx serve --help``) and know everything that can be set.
Later sources win: a value in the environment overrides the TOML file, which overrides the
default. Nested values (``remote_aes``) are given in the environment as JSON.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "DicomServiceValues",
    "DuplicatePolicyValues",
    "HL7CharsetValues",
    "HL7Destination",
    "OutboundMessageValues",
    "RemoteAE",
    "Settings",
    "StorageCommitmentReportValues",
    "ValidationModeValues",
    "load_settings",
]

#: PS3.8 9.3.1: an AE title is 1–16 characters of the default repertoire without backslash.
AETitle = Annotated[
    str, Field(min_length=1, max_length=16, pattern=r"^[ -\[\]-~]*[!-\[\]-~][ -\[\]-~]*$")
]


class DuplicatePolicyValues(StrEnum):
    """What ingest does when a SOP Instance UID arrives again with *different* bytes."""

    #: Keep the newest bytes, record the replacement (the default, as most PACS do).
    REPLACE = "replace"
    #: Refuse the new bytes; the stored instance stays as it is.
    REJECT = "reject"


class ValidationModeValues(StrEnum):
    """How strictly inbound objects are checked (STYLE rule 5: read leniently, write strictly)."""

    #: Accept what real modalities send (e.g. UID components with leading zeros), log a warning.
    LENIENT = "lenient"
    #: Reject anything that breaks a PS3.5 rule we check.
    STRICT = "strict"


class StorageCommitmentReportValues(StrEnum):
    """Where the Storage Commitment N-EVENT-REPORT goes (PS3.4 J.3.3)."""

    #: On the association that carried the N-ACTION; the requestor keeps it open meanwhile.
    SAME_ASSOCIATION = "same_association"
    #: On a new association from raddx to the AE's host and port, raddx in the SCP role.
    NEW_ASSOCIATION = "new_association"


class FsyncDirectoriesValues(StrEnum):
    """When the blob store fsyncs a bucket directory after linking a new blob into it."""

    #: Skip it where the file's own fsync already makes the new name durable: ext4 and XFS,
    #: whose journal commits the link in the same transaction as the inode (the blob is linked
    #: before it is fsynced). Everywhere else, as ``always``.
    AUTO = "auto"
    #: After every blob (portable POSIX durability; ~0.1 ms more per object on ext4 here).
    ALWAYS = "always"


class DicomServiceValues(StrEnum):
    """The DICOM services a peer may be allowed to use (per-AE allow-list, issue 9)."""

    ECHO = "echo"
    STORE = "store"
    FIND = "find"
    MOVE = "move"
    GET = "get"
    WORKLIST = "worklist"
    MPPS = "mpps"
    COMMITMENT = "commitment"


class RemoteAE(BaseModel):
    """A DICOM peer we may send to or retrieve from (C-MOVE destination, C-FIND target)."""

    ae_title: AETitle
    host: str
    port: int = Field(ge=1, le=65535)
    description: str = ""
    storage_commitment_report: StorageCommitmentReportValues = Field(
        StorageCommitmentReportValues.SAME_ASSOCIATION,
        description="Storage commitment requests from this AE (matched by calling AE title) "
        "are answered on the same association (same_association, default) or on a new "
        "association to host:port (new_association), for modalities that release right "
        "after the N-ACTION.",
    )
    services: list[DicomServiceValues] = Field(
        default_factory=lambda: list(DicomServiceValues),
        description="DICOM services this AE may use when it calls us from a non-local host "
        "(echo, store, find, move, get, worklist, mpps, commitment); default all. Contexts of "
        "other services are rejected at association negotiation.",
    )


class OutboundMessageValues(StrEnum):
    """What raddx sends to an HL7 destination (``hl7_destinations[].messages``)."""

    #: OMI^Z23 performed-exam notification to the HIS when an MPPS completes or is
    #: discontinued (JAHIS/IHE-J, ZE1/ZE2 segments).
    Z23 = "z23"
    #: OMI^O23 to a modality/PACS when an order is scheduled, changed or cancelled.
    OMI = "omi"
    #: ORU^R01 to an EHR when a report is finalised, amended or given an addendum.
    ORU = "oru"


class HL7CharsetValues(StrEnum):
    """MSH-18 of the messages raddx sends (how a destination wants its text)."""

    #: ISO-2022-JP (JIS X 0208), the JAHIS/SS-MIX2 convention; MSH-20 ``ISO 2022-1994``.
    ISO_IR87 = "~ISO IR87"
    UTF8 = "UNICODE UTF-8"


class HL7Destination(BaseModel):
    """A system raddx sends HL7 v2 messages to over MLLP."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str
    port: int = Field(ge=1, le=65535)
    charset: HL7CharsetValues = Field(
        HL7CharsetValues.ISO_IR87, description="MSH-18: '~ISO IR87' (default) or 'UNICODE UTF-8'."
    )
    messages: list[OutboundMessageValues] = Field(
        min_length=1, description="Which messages go there: z23, omi, oru."
    )
    receiving_application: str = Field("", description="MSH-5.")
    receiving_facility: str = Field("", description="MSH-6.")
    tls: bool = Field(False, description="MLLP over TLS (the peer's certificate is verified).")
    tls_ca_file: Path | None = Field(
        None, description="CA bundle to verify the peer with; unset = the system's."
    )


class Settings(BaseSettings):
    """All raddx settings; see each field's description."""

    model_config = SettingsConfigDict(
        env_prefix="RADDX_",
        toml_file="raddx.toml",
        extra="forbid",
    )

    data_dir: Path = Field(
        Path("data"), description="Root for the embedded default: blobs and the SQLite index."
    )
    storage_path: Path | None = Field(
        None, description="Where blobs live; default <data_dir>/blobs."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL of the index; default sqlite:///<data_dir>/index.sqlite. "
        "PostgreSQL: postgresql+psycopg://user:pass@host/db.",
    )
    sqlite_synchronous: str = Field(
        "NORMAL",
        description="SQLite PRAGMA synchronous in WAL mode. NORMAL (default): a power cut may "
        "roll back the last committed index rows; their objects' blobs are already durable "
        "and the sweep at the next start re-indexes them. FULL also flushes the index on "
        "every commit (one more fsync per object, ~20-35 % slower ingest here).",
    )
    deid_package_retention_hours: float = Field(
        168.0,
        ge=0,
        description="How long a de-identification job's download package "
        "(<data_dir>/deid-packages) is kept after it was written; older ones are deleted when a "
        "job runs and at start (0 = keep forever).",
    )
    ae_title: AETitle = Field("RADDX", description="Our DICOM AE title.")
    dicom_host: str = Field("0.0.0.0", description="Address the DICOM listener binds.")
    dicom_port: int = Field(11112, ge=0, le=65535, description="DICOM (DIMSE) port.")
    dicom_workers: int = Field(
        0,
        ge=0,
        description="DIMSE worker processes sharing the listening socket; 0 = one per CPU core.",
    )
    dicom_poll_interval: float = Field(
        0.0002,
        gt=0,
        le=0.01,
        description="pynetdicom reactor idle sleep in seconds (stock 0.001). Lower = faster "
        "C-STORE round trips, more idle CPU per open association.",
    )
    dicom_fast_path: bool = Field(
        True,
        description="Serve associations that only echo, store, C-FIND and C-GET (one operation "
        "at a time) on raddx's own data-transfer loop instead of pynetdicom's polling reactors "
        "(about twice the rate for small objects, a third of the CPU per C-FIND); false sends "
        "every association through pynetdicom.",
    )
    require_called_ae_title: bool = Field(
        False, description="Reject associations whose Called AE Title is not ae_title."
    )
    dicom_local_networks: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="Networks (CIDR) whose DICOM peers are trusted with any AE title and every "
        "service (default: loopback). Peers from anywhere else must be registered remote AEs.",
    )
    dicom_accept_unregistered_peers: bool = Field(
        False,
        description="Accept associations from any AE on any host (no allow-list); off by "
        "default: a non-local calling AE title that is not a registered remote AE is rejected "
        "(A-ASSOCIATE-RJ, calling AE title not recognized).",
    )
    dicom_check_peer_host: bool = Field(
        True,
        description="A registered remote AE is accepted only from the address its host "
        "resolves to (the AE title alone is easily forged).",
    )
    dicom_tls_port: int = Field(
        0,
        ge=0,
        le=65535,
        description="DICOM TLS port (BCP 195 profile, PS3.15 B.9; 2762 is IANA's dicom-tls); "
        "0 = off. Needs tls_cert_file and tls_key_file.",
    )
    https_port: int = Field(
        0, ge=0, le=65535, description="HTTPS port (TLS 1.2+, AEAD suites only); 0 = off."
    )
    hl7_tls_port: int = Field(0, ge=0, le=65535, description="HL7 v2 MLLP over TLS port; 0 = off.")
    tls_cert_file: Path | None = Field(
        None,
        description="PEM certificate (chain) of this server for HTTPS, DICOM TLS and MLLP/TLS.",
    )
    tls_key_file: Path | None = Field(None, description="PEM private key of tls_cert_file.")
    tls_ca_file: Path | None = Field(
        None,
        description="PEM CA certificates that client certificates are verified against "
        "(mutual TLS, with tls_require_client_cert).",
    )
    tls_require_client_cert: bool = Field(
        False,
        description="Mutual TLS: a TLS client without a certificate signed by tls_ca_file "
        "fails the handshake (node authentication).",
    )
    tls_only: bool = Field(
        False,
        description="Serve only the TLS ports: the plain DICOM, HTTP and HL7 ports are not opened.",
    )
    default_timezone_offset: str | None = Field(
        None,
        pattern=r"^[+-](0\d|1[0-4])[0-5]\d$",
        description="UTC offset (e.g. '+0900') of objects without TimezoneOffsetFromUTC, used "
        "for the instants behind date-time matching and timezone-adjusted queries; unset = "
        "such objects are taken as UTC. Applies to objects stored from then on.",
    )
    max_find_matches: int = Field(
        10000,
        ge=1,
        description="C-FIND answers at most this many matches, then ends with 0xA700 and a "
        "comment saying the list was cut.",
    )
    hl7_host: str = Field(
        "0.0.0.0", description="Address the HL7 v2 (MLLP) listener binds: orders and ADT."
    )
    hl7_port: int = Field(
        2575, ge=0, le=65535, description="HL7 v2 MLLP port (2575, IANA 'hl7'); 0 = off."
    )
    hl7_sqlite_synchronous: str = Field(
        "FULL",
        description="SQLite PRAGMA synchronous of the HL7 door's transactions (orders, ADT). "
        "FULL (default): the WAL is flushed to disk before the ACK/ORG^O20 is sent, so an "
        "accepted message survives a power cut or OS crash: the HIS never resends a message "
        "it saw accepted, and no blob exists to rebuild an order from. NORMAL: ~0.3 ms less "
        "per message on this disk, but a power cut or OS crash (not a crash of raddx itself) "
        "can lose the messages acknowledged since the last checkpoint or FULL commit, while "
        "the HIS believes them delivered.",
    )
    hl7_destinations: list[HL7Destination] = Field(
        default_factory=list,
        description="Where raddx sends HL7 v2 (name, host, port, charset, messages: z23 = "
        "OMI^Z23 performed exam to the HIS, omi = OMI^O23 to modality/PACS, oru = ORU^R01 "
        "reports). Queued in the index (outbox) and delivered by raddx serve with retries.",
    )
    hl7_sending_application: str = Field("RADDX", description="MSH-3 of messages we send.")
    hl7_sending_facility: str = Field("", description="MSH-4 of messages we send.")
    hl7_timeout: float = Field(
        10.0, gt=0, description="Seconds to connect to an HL7 destination and to await its ACK."
    )
    mpps_forward_aes: list[str] = Field(
        default_factory=list,
        description="AE titles (of remote_aes or runtime remote AEs) every MPPS N-CREATE and "
        "N-SET received is forwarded to, in the background, through the outbox.",
    )
    outbox_poll_interval: float = Field(
        0.5, gt=0, description="Seconds between the outbound worker's looks at the outbox."
    )
    outbox_retry_initial: float = Field(
        5.0, gt=0, description="Seconds before the first retry of an unreachable destination."
    )
    outbox_retry_max: float = Field(
        300.0, gt=0, description="Retry delay cap in seconds (the delay doubles per attempt)."
    )
    http_host: str = Field("127.0.0.1", description="Address the HTTP server binds.")
    http_port: int = Field(8080, ge=0, le=65535, description="HTTP port (health, DICOMweb).")
    hl7_allowed_facilities: list[str] = Field(
        default_factory=list,
        description="Sending facilities (MSH-4, first component) whose HL7 messages are "
        "accepted; empty = any. Others are answered AR with an ERR segment.",
    )
    hl7_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Addresses or networks (CIDR) allowed to send HL7 messages; empty = any. "
        "Others are answered AR with an ERR segment.",
    )
    cors_allow_origins: list[str] = Field(
        default_factory=list,
        description="Origins (e.g. 'https://viewer.example.org', or '*') whose browser apps "
        "may call the HTTP door (CORS), such as an OHIF viewer served elsewhere; empty = "
        "same origin only.",
    )
    max_header_bytes: int = Field(
        16 * 1024,
        ge=1024,
        description="HTTP: the request's header fields together (cookies and Authorization "
        "included) may total this many bytes; more is answered 431.",
    )
    max_url_bytes: int = Field(
        8 * 1024,
        ge=256,
        description="HTTP: the request target (path and query string) may be this long; "
        "longer is answered 414 (QIDO-RS UID lists of ~100 UIDs fit).",
    )
    max_json_body_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="HTTP: a request body that is not an upload (JSON for /api and /fhir) may "
        "be this large; larger is answered 413 before it is parsed.",
    )
    max_upload_bytes: int = Field(
        4 * 1024**3,
        ge=1024,
        description="HTTP: an upload (STOW-RS multipart/related or application/dicom) may be "
        "this large; larger is answered 413 and nothing of it is stored.",
    )
    qido_max_results: int = Field(
        1000,
        ge=1,
        description="A QIDO-RS search answers at most this many results (a larger limit is "
        "lowered to it); a page with more matches behind it carries the Warning header.",
    )
    stow_parallel_stores: int = Field(
        4,
        ge=1,
        le=32,
        description="Instances of one STOW-RS request stored at the same time: their blob "
        "fsyncs overlap (a request of ten 512 kB instances otherwise waits for ten fsyncs in a "
        "row); 1 stores them one after the other.",
    )
    remote_aes: list[RemoteAE] = Field(
        default_factory=list, description="Known remote AEs (title, host, port)."
    )
    duplicate_policy: DuplicatePolicyValues = Field(
        DuplicatePolicyValues.REPLACE,
        description="Same SOP Instance UID, different bytes: replace (default) or reject.",
    )
    validation_mode: ValidationModeValues = Field(
        ValidationModeValues.LENIENT, description="lenient (default) or strict input checks."
    )
    fsync: bool = Field(
        True, description="fsync every blob before acknowledging it (durability on power loss)."
    )
    fsync_directories: FsyncDirectoriesValues = Field(
        FsyncDirectoriesValues.AUTO,
        description="auto (default): fsync the blob's directory too, except on ext4/XFS where "
        "the blob's fsync already commits its name; always: on every filesystem.",
    )
    audit_enabled: bool = Field(
        True,
        description="Write the audit trail. UNSAFE to turn off: it exists so bench/security.py "
        "can measure what auditing costs; the MHLW guideline requires the trail.",
    )
    startup_sweep: bool = Field(
        True,
        description="raddx serve reconciles blobs and index at start (re-indexes objects whose "
        "row a crash lost, removes torn blobs); files younger than a minute are left alone.",
    )
    orphan_grace_seconds: int = Field(
        3600,
        ge=0,
        description="The orphan sweep leaves blobs and temp files younger than this alone "
        "(they may belong to an ingest still in flight).",
    )
    jj1017_refuse_unknown: bool = Field(
        False,
        description="Refuse orders (HL7, REST, FHIR) whose JJ1017 code is not in the imported "
        "master (raddx jj1017 import), or is there with a validity (valid_from/valid_to) that "
        "excludes the procedure's scheduled date; default: accept them and flag the code.",
    )
    fhir_page_size: int = Field(
        50, ge=1, le=1000, description="FHIR search: entries per page when _count is not given."
    )
    blob_encryption_key_file: Path | None = Field(
        None,
        description="Encrypt blobs at rest (AES-256-GCM) with the keys in this file: one "
        "'<key id> <64 hex digits>' per line, the last line is the key new blobs use; older "
        "keys keep earlier blobs readable until 'raddx storage rotate-key'. Unset = plain blobs. "
        "RADDX_BLOB_ENCRYPTION_KEY ('<key id>:<64 hex digits>') is used if no file is set.",
    )
    backup_generations: int = Field(
        7, ge=1, description="raddx backup keeps this many backups in the destination."
    )
    backup_signing_key_file: Path | None = Field(
        None,
        description="Sign each backup's manifest (HMAC-SHA256) with the key in this file (at "
        "least 32 bytes; keep it off the backup media): verify and restore then refuse a "
        "backup whose files and manifest were changed together. Unset = manifests unsigned.",
    )
    report_pdf_font: Path | None = Field(
        None,
        description="TrueType/OpenType font with Japanese glyphs embedded in report PDFs; "
        "unset = the first installed of IPAexGothic (Debian fonts-ipaexfont-gothic) and Noto "
        "Sans CJK JP.",
    )

    audit_source_id: str | None = Field(
        None,
        description="AuditSourceID of raddx's audit messages (PS3.15 A.5.1); unset = "
        "<ae_title>@<host name>.",
    )
    audit_enterprise_site_id: str | None = Field(
        None, description="AuditEnterpriseSiteID of the audit messages (the hospital), optional."
    )
    audit_flush_interval_ms: int = Field(
        50,
        ge=1,
        le=10000,
        description="The audit writer waits at most this long for more events before it "
        "commits a batch (doors never wait for it).",
    )
    audit_batch_max: int = Field(
        1000, ge=1, description="Most audit events the writer commits in one transaction."
    )
    audit_syslog_host: str | None = Field(
        None,
        description="Audit Record Repository (syslog collector) to send every audit message to, "
        "RFC 5424 over TLS with RFC 5425 framing (IHE ATNA ITI-20); unset = log only.",
    )
    audit_syslog_port: int = Field(6514, ge=1, le=65535, description="Its port (6514: syslog-tls).")
    audit_syslog_ca_file: Path | None = Field(
        None, description="CA bundle the collector's certificate is verified with; unset = system."
    )
    audit_syslog_cert_file: Path | None = Field(
        None, description="Our client certificate for the collector (ITI-19 mutual TLS), optional."
    )
    audit_syslog_key_file: Path | None = Field(None, description="Private key of that certificate.")
    audit_syslog_backlog: int = Field(
        100000,
        ge=1,
        description="Messages kept in memory while the collector is unreachable (they are in "
        "the audit log anyway); beyond that the oldest are dropped from the send queue, with a "
        "warning.",
    )

    security_enforced: bool = Field(
        True,
        description="UNSAFE when false: the HTTP door then lets every request through as a "
        "system principal with no authentication or permission check. Exists only so "
        "bench/security.py can measure the cost of the controls; never turn it off on a "
        "server that holds patient data.",
    )
    security_policy_file: Path | None = Field(
        None,
        description="YAML file with the site's role table ('roles:' as in raddx/security/"
        "policy.yaml); unset = the shipped roles. The permission catalogue is fixed.",
    )
    password_min_length: int = Field(
        13,
        ge=8,
        le=1024,
        description="Shortest password accepted (MHLW guideline 6.0 Q&A シQ-54: 13 or more).",
    )
    password_history: int = Field(
        5, ge=0, description="A new password may not equal the current one or the last N."
    )
    login_max_failures: int = Field(
        5, ge=1, description="Wrong passwords or 2FA codes in a row that lock an account."
    )
    login_lockout_seconds: int = Field(
        900, ge=1, description="How long a locked account stays locked (then it unlocks)."
    )
    mfa_required_roles: list[str] = Field(
        default_factory=lambda: ["admin"],
        description="Roles that must use TOTP 2FA: such a user can log in with a password "
        "only to enrol, and cannot use HTTP Basic with a password (use an API token).",
    )
    session_idle_timeout_seconds: int = Field(
        900, ge=1, description="A browser session ends after this long without a request."
    )
    session_lifetime_seconds: int = Field(
        28800, ge=1, description="A browser session ends this long after login, in any case."
    )
    auth_cache_seconds: float = Field(
        30.0,
        ge=0,
        description="A successful HTTP Basic or API-token check is remembered in memory for "
        "this long (keyed by an HMAC of the credentials), so machine clients do not pay an "
        "Argon2 verification (~50 ms) per request; a revoked token or changed password may "
        "keep working this long in other processes. 0 = never cache.",
    )
    break_glass_seconds: int = Field(
        3600, ge=60, description="How long a break-glass (emergency) elevation lasts at most."
    )
    break_glass_role: str = Field(
        "radiologist",
        description="The role a user acts with during break-glass (flagged in the audit trail).",
    )

    oidc_issuer: str | None = Field(
        None,
        description="OIDC: the identity provider's issuer (the JWT 'iss'); with oidc_jwks_url "
        "set, Bearer JWTs from it are accepted besides raddx's own tokens. Unset = off.",
    )
    oidc_jwks_url: str | None = Field(
        None, description="OIDC: URL of the provider's JWKS (signing keys, cached 5 min)."
    )
    oidc_audience: str = Field("raddx", description="OIDC: the 'aud' a token must carry.")
    oidc_role_claim: str = Field(
        "roles",
        description="OIDC: the claim listing the user's roles; the first that is a raddx "
        "role is used (none: refused).",
    )

    @field_validator("sqlite_synchronous", "hl7_sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        value = value.upper()
        if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be OFF, NORMAL, FULL or EXTRA")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence, highest first: explicit arguments, environment, raddx.toml.
        toml_file = os.environ.get("RADDX_CONFIG", "raddx.toml")
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @property
    def resolved_storage_path(self) -> Path:
        """The blob root, defaulting under ``data_dir``."""
        return self.storage_path if self.storage_path is not None else self.data_dir / "blobs"

    @property
    def resolved_database_url(self) -> str:
        """The index URL, defaulting to SQLite under ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'index.sqlite').as_posix()}"


def load_settings(**overrides: object) -> Settings:
    """Build the settings from all sources; ``overrides`` win over everything (tests, CLI flags)."""
    return Settings(**overrides)  # type: ignore[arg-type]
