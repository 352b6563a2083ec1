"""``/api/remote-aes``: the remote AEs (configured and added at runtime), and C-ECHO.

Adding or removing one changes who raddx sends to and which C-MOVE destinations it accepts:
each is audited as a Security Alert, 110128 Network Configuration (PS3.15 A.5.3.11), naming
the user and the AE."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Request

from raddx.config import RemoteAE
from raddx.dimse.scu import echo
from raddx.remotes import RemoteAEWithSource
from raddx.security import audit_events
from raddx.security.audit import EventOutcomeIndicatorValues, EventTypeCodeValues, record
from raddx.web import _audit as web_audit
from raddx.web.api._deps import RemotesDep
from raddx.web.api._models import EchoPublic, RemoteAECreate, RemoteAEPublic
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("remote AEs")

#: PS3.8 9.3.1 in a path: 1-16 characters of the default repertoire, no backslash.
AETitlePath = Annotated[
    str,
    Path(
        min_length=1,
        max_length=16,
        pattern=r"^[ -\[\]-~]*[!-\[\]-~][ -\[\]-~]*$",
        description="AE title (1-16 characters, no backslash or control characters).",
    ),
]


def _configured(request: Request, remote: RemoteAE, description: str) -> None:
    record(
        audit_events.security_alert(
            alert=EventTypeCodeValues.NETWORK_CONFIGURATION,
            reporter=web_audit.requester(request),
            description=f"{description}: {remote.ae_title} at {remote.host}:{remote.port}",
            subject=remote.ae_title,
            outcome=EventOutcomeIndicatorValues.SUCCESS,
        )
    )


def _public(entry: RemoteAEWithSource) -> RemoteAEPublic:
    remote = entry.remote
    return RemoteAEPublic(
        ae_title=remote.ae_title,
        host=remote.host,
        port=remote.port,
        description=remote.description,
        source=entry.source.value,
    )


@endpoint(
    router, "GET", "/remote-aes", action="remote_aes.read", response_model=list[RemoteAEPublic]
)
def list_remote_aes(remotes: RemotesDep) -> list[RemoteAEPublic]:
    """Configured remote AEs (``remote_aes`` in raddx.toml), then those added here."""
    return [_public(entry) for entry in remotes.list()]


@endpoint(
    router,
    "POST",
    "/remote-aes",
    action="remote_aes.write",
    response_model=RemoteAEPublic,
    status_code=201,
)
def add_remote_ae(remotes: RemotesDep, body: RemoteAECreate, request: Request) -> RemoteAEPublic:
    """Add a remote AE (kept in the index). 409 when the title exists already; 422 for an
    invalid title (over 16 characters, backslash, control characters) or port."""
    remote = RemoteAE.model_validate(body.model_dump())
    added = _public(remotes.add(remote))
    _configured(request, remote, "remote AE added")
    return added


@endpoint(
    router,
    "GET",
    "/remote-aes/{ae_title}",
    action="remote_aes.read",
    response_model=RemoteAEPublic,
)
def get_remote_ae(remotes: RemotesDep, ae_title: AETitlePath) -> RemoteAEPublic:
    """One remote AE by title."""
    return _public(remotes.get(ae_title))


@endpoint(
    router,
    "DELETE",
    "/remote-aes/{ae_title}",
    action="remote_aes.write",
    response_model=RemoteAEPublic,
)
def remove_remote_ae(
    remotes: RemotesDep, ae_title: AETitlePath, request: Request
) -> RemoteAEPublic:
    """Remove a remote AE added here, answering what was removed; a configured one is a
    409 (change raddx.toml instead)."""
    entry = remotes.get(ae_title)
    remotes.remove(ae_title)
    _configured(request, entry.remote, "remote AE removed")
    return _public(entry)


@endpoint(
    router,
    "POST",
    "/remote-aes/{ae_title}/echo",
    action="remote_aes.echo",
    response_model=EchoPublic,
)
def echo_remote_ae(services: ServicesDep, remotes: RemotesDep, ae_title: AETitlePath) -> EchoPublic:
    """C-ECHO the remote AE (PS3.4 A.4) as this archive's AE title. An unreachable or
    refusing peer is a 200 with ``success: false`` and the reason: the echo ran, the peer
    failed it."""
    remote = remotes.get(ae_title).remote
    outcome = echo(remote, calling_ae=services.settings.ae_title)
    return EchoPublic(
        ae_title=remote.ae_title,
        success=outcome.ok,
        status=outcome.status,
        round_trip_ms=outcome.round_trip_ms,
        reason=outcome.comment,
    )
