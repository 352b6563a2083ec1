"""``/api/auth``: first-run setup, login/logout (browser session cookie), whoami, 2FA
enrolment, password change and break-glass.

The login answers the same for an unknown user, a wrong password and a disabled account, so
it does not reveal which user names exist; a locked account is said to be locked.
"""

from __future__ import annotations

import datetime as dt
import hmac
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from raddx.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from raddx.security import (
    PENDING_MFA_ROLE,
    Authenticator,
    Principal,
    accounts,
    audit_events,
    sessions,
    totp,
)
from raddx.security.accounts import LoginOutcome
from raddx.security.audit import EventOutcomeIndicatorValues, EventTypeCodeValues, record
from raddx.web import _audit as web_audit
from raddx.web.api._models import Problem
from raddx.web.auth._require import SELF_ACTION, SESSION_COOKIE, CurrentPrincipal, public, require
from raddx.web.deps import ServicesDep

__all__ = ["router"]


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "model": Problem,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


def problem_responses() -> dict[int | str, dict[str, Any]]:
    """The problem+json answers of the /api/auth routes (RFC 9457; raddx.web._errors)."""
    return {
        400: _problem("Malformed request, or a password the policy refuses."),
        401: _problem("Wrong or missing credentials, locked account, 2FA code needed."),
        403: _problem("Wrong setup code, wrong current password, or role refused."),
        404: _problem("No such user or token."),
        409: _problem("Name taken, setup already done, 2FA already enrolled, or security off."),
        422: _problem("The JSON body does not match the declared model."),
    }


router = APIRouter(prefix="/api/auth", tags=["auth"], responses=problem_responses())


def _auth(request: Request) -> Authenticator:
    auth = getattr(request.app.state, "authenticator", None)
    if auth is None:
        raise Conflict("security_enforced is off: there are no logins")
    return cast(Authenticator, auth)


AuthDep = Annotated[Authenticator, Depends(_auth)]


class SetupIn(BaseModel):
    code: str = Field(max_length=256)
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class LoginIn(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    otp: str | None = Field(None, max_length=64, description="TOTP or recovery code")


class WhoAmI(BaseModel):
    name: str
    role: str
    kind: str
    break_glass: bool
    mfa_enrolment_required: bool
    permissions: list[str]
    #: The account's display name (a DICOM PN value with groups), null when it has none or
    #: the caller is not a user: what the report editor signs with.
    display_name: str | None = None


class Enrolment(BaseModel):
    secret: str
    otpauth_uri: str
    qr: str = Field(description="the otpauth URI as a QR code: a PNG data: URI for an <img>")


class ConfirmIn(BaseModel):
    code: str = Field(max_length=16)


class RecoveryCodes(BaseModel):
    recovery_codes: list[str]


class PasswordIn(BaseModel):
    current: str = Field(max_length=1024)
    new: str = Field(max_length=1024)


class BreakGlassIn(BaseModel):
    reason: str = Field(max_length=1000)
    minutes: int = Field(60, ge=1, le=24 * 60)


class BreakGlassOut(BaseModel):
    until: dt.datetime


@router.post("/setup", status_code=201, dependencies=[public()])
def setup(body: SetupIn, request: Request, services: ServicesDep, auth: AuthDep) -> WhoAmI:
    """First-run bootstrap: create the first admin with the one-time code ``raddx serve``
    printed on its console. Closed (409) once any user exists."""
    code = request.app.state.setup_code
    if code is None:
        raise Conflict("setup is closed: a user exists")
    if not hmac.compare_digest(body.code.encode(), code.encode()):
        raise Forbidden("wrong setup code")
    with services.session_factory() as s, s.begin():
        if accounts.count_users(session=s):
            raise Conflict("setup is closed: a user exists")
        accounts.create_user(
            session=s,
            name=body.name,
            role="admin",
            password=body.password,
            policy=auth.policy,
            rules=auth.rules.accounts,
            clock=auth.clock,
        )
    request.app.state.setup_code = None
    mfa = "admin" in auth.rules.accounts.mfa_roles
    return WhoAmI(
        name=body.name,
        role="admin",
        kind="user",
        break_glass=False,
        mfa_enrolment_required=mfa,
        permissions=sorted(auth.policy.permissions_of("admin")),
    )


@router.post("/login", dependencies=[public()])
def login(
    body: LoginIn, request: Request, response: Response, services: ServicesDep, auth: AuthDep
) -> WhoAmI:
    """Log in with a password (and a TOTP or recovery code when the account has 2FA); the
    answer sets the session cookie (HttpOnly, SameSite=Strict)."""
    host = request.client.host if request.client else None
    with services.session_factory() as s, s.begin():
        result = accounts.login(
            session=s,
            name=body.name,
            password=body.password,
            otp=body.otp,
            rules=auth.rules.accounts,
            clock=auth.clock,
        )
        cookie = None
        if result.outcome is LoginOutcome.OK:
            cookie = sessions.start_session(
                session=s, user_name=result.name, host=host, clock=auth.clock
            )
    # User Authentication (PS3.15 A.5.3.12): every attempt, refused ones with why (no secret).
    web_audit.authentication(
        request,
        body.name,
        login=True,
        success=cookie is not None,
        reason=None if cookie is not None else result.outcome.value,
    )
    if result.outcome is LoginOutcome.LOCKED:
        raise Unauthenticated("account locked after repeated failures; try again later")
    if result.outcome is LoginOutcome.MFA_REQUIRED:
        raise Unauthenticated("2FA code required (otp)")
    if result.outcome is LoginOutcome.MFA_INVALID:
        raise Unauthenticated("invalid or already used 2FA code")
    if cookie is None:
        raise Unauthenticated("invalid user name or password")
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    with services.session_factory() as s, s.begin():
        live = sessions.resolve_session(
            session=s, text=cookie, rules=auth.rules.sessions, clock=auth.clock
        )
    assert live is not None
    principal = auth.session_principal(live, host)
    request.state.principal = principal
    return _named(_whoami(principal, auth), principal, services)


def _whoami(principal: Principal, auth: Authenticator | None) -> WhoAmI:
    perms = auth.policy.permissions_of(principal.role) if auth else frozenset()
    return WhoAmI(
        name=principal.name,
        role=principal.role,
        kind=principal.kind,
        break_glass=principal.break_glass,
        mfa_enrolment_required=principal.role == PENDING_MFA_ROLE,
        permissions=sorted(perms | {SELF_ACTION}),
    )


@router.post("/logout", status_code=204, dependencies=[require(SELF_ACTION)])
def logout(request: Request, services: ServicesDep, auth: AuthDep) -> Response:
    """End the browser session (a Bearer/Basic client has none: nothing happens)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        with services.session_factory() as s, s.begin():
            sessions.end_session(session=s, text=cookie, clock=auth.clock)
        principal = getattr(request.state, "principal", None)
        web_audit.authentication(request, getattr(principal, "name", ""), login=False)
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/whoami", dependencies=[require(SELF_ACTION)])
def whoami(principal: CurrentPrincipal, request: Request, services: ServicesDep) -> WhoAmI:
    """Who the request is authenticated as, what that role may do, and the display name."""
    answer = _whoami(principal, getattr(request.app.state, "authenticator", None))
    return _named(answer, principal, services)


def _named(answer: WhoAmI, principal: Principal, services: Any) -> WhoAmI:
    """``answer`` with the account's display name (the login answer as well as whoami: the
    web application signs reports with it from the first page on)."""
    if principal.kind == "user":
        with services.session_factory() as s:
            answer.display_name = accounts.display_name_of(session=s, name=principal.name)
    return answer


def _self_changed(request: Request, name: str, description: str) -> None:
    """Audit a change users made to their own login (PS3.15 A.5.3.11, 110137)."""
    record(
        audit_events.user_security_changed(
            by=web_audit.requester(request), subject=name, description=description
        )
    )


def _own_user(principal: Principal) -> str:
    if principal.kind != "user":
        raise InvalidInput("only a logged-in user has a password and 2FA (not an API token)")
    return principal.name


@router.post("/2fa/enrol", dependencies=[require(SELF_ACTION)])
def enrol_2fa(principal: CurrentPrincipal, services: ServicesDep) -> Enrolment:
    """Start TOTP enrolment: the secret and the otpauth URI for the authenticator app."""
    name = _own_user(principal)
    with services.session_factory() as s, s.begin():
        secret = accounts.begin_totp(session=s, name=name)
    uri = totp.provisioning_uri(secret, account=name)
    return Enrolment(secret=secret, otpauth_uri=uri, qr=totp.provisioning_qr(uri))


@router.post("/2fa/confirm", dependencies=[require(SELF_ACTION)])
def confirm_2fa(
    body: ConfirmIn,
    request: Request,
    principal: CurrentPrincipal,
    services: ServicesDep,
    auth: AuthDep,
) -> RecoveryCodes:
    """Finish enrolment with a code from the app; answers the one-time recovery codes
    (shown only now)."""
    name = _own_user(principal)
    with services.session_factory() as s, s.begin():
        codes = accounts.confirm_totp(session=s, name=name, code=body.code, clock=auth.clock)
    _self_changed(request, name, "2FA enrolled")
    return RecoveryCodes(recovery_codes=codes)


@router.post("/password", status_code=204, dependencies=[require(SELF_ACTION)])
def change_password(
    body: PasswordIn,
    request: Request,
    principal: CurrentPrincipal,
    services: ServicesDep,
    auth: AuthDep,
) -> Response:
    """Change one's own password (the current one is asked again)."""
    name = _own_user(principal)
    with services.session_factory() as s, s.begin():
        if not accounts.check_current_password(session=s, name=name, password=body.current):
            raise Forbidden("the current password is wrong")
        accounts.set_password(
            session=s, name=name, password=body.new, rules=auth.rules.accounts, clock=auth.clock
        )
    auth.forget_all()
    _self_changed(request, name, "password changed by the user")
    return Response(status_code=204)


@router.post("/break-glass", dependencies=[require(SELF_ACTION)])
def break_glass(
    body: BreakGlassIn,
    request: Request,
    principal: CurrentPrincipal,
    services: ServicesDep,
    auth: AuthDep,
) -> BreakGlassOut:
    """Emergency access: elevate this browser session to the break-glass role for at most
    ``break_glass_seconds``, with a reason (flagged on every request in the audit trail)."""
    _own_user(principal)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise InvalidInput("break-glass needs a browser session (POST /api/auth/login)")
    with services.session_factory() as s, s.begin():
        until = sessions.start_break_glass(
            session=s,
            text=cookie,
            reason=body.reason,
            minutes=body.minutes,
            rules=auth.rules.sessions,
            clock=auth.clock,
        )
    # Security Alert, Emergency Override Started (PS3.15 A.5.3.11, EventTypeCode 110127).
    record(
        audit_events.security_alert(
            alert=EventTypeCodeValues.EMERGENCY_OVERRIDE_STARTED,
            reporter=web_audit.requester(request),
            description=f"break-glass until {until.isoformat()}: {body.reason}",
            subject=principal.name,
            outcome=EventOutcomeIndicatorValues.SUCCESS,
        )
    )
    return BreakGlassOut(until=until)
