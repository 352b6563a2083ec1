"""Who the HTTP doors' audit events name: the principal on ``request.state`` (break-glass
flagged), or ``anonymous`` at the client's address; login/logout events."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from audit_schema import assert_valid
from raddx.security import audit
from raddx.security.atna import AuditSource, to_xml
from raddx.web import _audit as web_audit

SOURCE = AuditSource(source_id="RADDX@test", ae_title="RADDX", host="127.0.0.1", process_id=1)


@dataclass
class _Principal:  # the shape of raddx.security.principal.Principal
    name: str
    role: str
    kind: str = "user"
    host: str | None = None
    break_glass: bool = False


def _request(principal: object | None = None) -> Request:
    scope = {"type": "http", "client": ("192.0.2.7", 50000), "state": {}, "headers": []}
    request = Request(scope)
    if principal is not None:
        request.state.principal = principal
    return request


def test_without_principal_the_actor_is_anonymous_at_the_client() -> None:
    actor = web_audit.requester(_request())
    assert (actor.user_id, actor.host, actor.user_is_requestor) == ("anonymous", "192.0.2.7", True)


def test_break_glass_principal_is_flagged() -> None:
    actor = web_audit.requester(_request(_Principal("suzuki", "radiologist", break_glass=True)))
    assert (actor.user_id, actor.user_name) == ("suzuki", "radiologist (break-glass)")


def test_login_refused_and_logout() -> None:
    with audit.capture() as events:
        web_audit.authentication(_request(), "tanaka", login=True, success=False, reason="locked")
        web_audit.authentication(_request(), "tanaka", login=False)
    refused, logout = events
    assert (refused.event_id.code.code, refused.outcome, refused.user) == ("110114", 4, "tanaka")
    assert [t.code.code for t in refused.event_types] == ["110122"]
    assert [t.code.code for t in logout.event_types] == ["110123"]
    root = assert_valid(to_xml(refused, SOURCE))
    assert root.findtext("EventIdentification/EventOutcomeDescription") == "locked"
