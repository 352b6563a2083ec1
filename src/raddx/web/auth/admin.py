"""``/api/auth/users`` and ``/api/auth/tokens``: account and API-token administration over
REST (permission ``admin.users``), the same operations as ``raddx user`` / ``raddx token``.

Every change drops the authenticator's cache of recent successes, so a disabled user or a
revoked token stops working in this process at once, and is audited as a Security Alert
(PS3.15 A.5.3.11) naming the administrator, the account or token and what changed:
EventTypeCode 110136 Security Roles Changed for a role change, 110137 User Security
Attributes Changed for everything else (created, disabled, enabled, unlocked, 2FA reset,
display name changed, token created or revoked).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy.orm import Session

from raddx.errors import InvalidInput, NotFound
from raddx.security import accounts, audit_events, tokens
from raddx.security.audit import record
from raddx.web import _audit as web_audit
from raddx.web.auth._require import require
from raddx.web.auth.routes import AuthDep, problem_responses
from raddx.web.deps import ServicesDep

__all__ = ["router"]

T = TypeVar("T")
_ADMIN = [require("admin.users")]
Name = Annotated[str, Path(min_length=1, max_length=64)]

router = APIRouter(tags=["auth"], responses=problem_responses())


def _display_name(value: str | None) -> str | None:
    """Pydantic check of a display name (a DICOM PN value): 422 with the reason."""
    try:
        return accounts.check_display_name(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


_DISPLAY_NAME = Field(
    default=None,
    max_length=200,
    description="The person's name as a DICOM PN value, alphabetic=ideographic=phonetic "
    "(Tanaka^Taro=田中^太郎=たなか^たろう); written as author/verifier of reports. "
    "Absent, null or empty: none (the login name is shown).",
    examples=["Tanaka^Taro=田中^太郎=たなか^たろう"],
)


class UserCreate(BaseModel):
    name: str = Field(max_length=64)
    role: str = Field(max_length=32)
    password: str = Field(max_length=1024)
    display_name: str | None = _DISPLAY_NAME

    _check_display_name = field_validator("display_name")(_display_name)


class DisplayNameChange(BaseModel):
    display_name: str | None = _DISPLAY_NAME

    _check_display_name = field_validator("display_name")(_display_name)


class UserPublic(BaseModel):
    name: str
    role: str
    disabled: bool
    locked_until: dt.datetime | None
    totp_enrolled: bool
    created_at: dt.datetime
    display_name: str | None = None


class RolePublic(BaseModel):
    name: str
    description: str
    permissions: list[str]


class RoleChange(BaseModel):
    role: str = Field(max_length=32)


class TokenCreate(BaseModel):
    name: str = Field(max_length=64)
    role: str = Field("viewer", max_length=32)


class TokenPublic(BaseModel):
    name: str
    role: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked: bool


class TokenCreated(BaseModel):
    name: str
    role: str
    #: The token itself: shown in this answer only.
    token: str


def _work(services: Any, auth: Any, action: Callable[[Session], T]) -> T:
    with services.session_factory() as s, s.begin():
        result = action(s)
    auth.forget_all()
    return result


def _changed(request: Request, subject: str, description: str, *, role: bool = False) -> None:
    """Audit a completed change of ``subject``'s security attributes (PS3.15 A.5.3.11);
    the administrator is the requesting participant."""
    record(
        audit_events.user_security_changed(
            by=web_audit.requester(request),
            subject=subject,
            description=description,
            role_changed=role,
        )
    )


def _public(u: accounts.UserInfo) -> UserPublic:
    return UserPublic(
        name=u.name,
        role=u.role,
        disabled=u.disabled,
        locked_until=u.locked_until,
        totp_enrolled=u.totp_enrolled,
        created_at=u.created_at,
        display_name=u.display_name,
    )


@router.get("/roles", dependencies=_ADMIN)
def list_roles(request: Request) -> list[RolePublic]:
    """The roles of the site's policy, in file order, each with what it may do (the choices
    when creating a user or changing a role)."""
    policy = request.app.state.policy
    return [
        RolePublic(
            name=role,
            description=policy.description_of(role),
            permissions=sorted(policy.permissions_of(role)),
        )
        for role in policy.roles
    ]


@router.get("/users", dependencies=_ADMIN)
def list_users(services: ServicesDep) -> list[UserPublic]:
    """Every account (never a password hash or 2FA secret)."""
    with services.session_factory() as s:
        return [_public(u) for u in accounts.list_users(session=s)]


@router.post("/users", status_code=201, dependencies=_ADMIN)
def create_user(
    body: UserCreate, request: Request, services: ServicesDep, auth: AuthDep
) -> UserPublic:
    """Create an account (400: bad name, unknown role, password refused; 409: name taken)."""
    _work(
        services,
        auth,
        lambda s: accounts.create_user(
            session=s,
            name=body.name,
            role=body.role,
            password=body.password,
            policy=auth.policy,
            rules=auth.rules.accounts,
            clock=auth.clock,
            display_name=body.display_name,
        ),
    )
    named = f", display name {body.display_name}" if body.display_name else ""
    _changed(request, body.name, f"user created with role {body.role}{named}")
    return _one(services, body.name)


def _one(services: Any, name: str) -> UserPublic:
    with services.session_factory() as s:
        for u in accounts.list_users(session=s):
            if u.name == name:
                return _public(u)
    raise NotFound(f"no user named {name!r}")


@router.post("/users/{name}/disable", dependencies=_ADMIN)
def disable_user(name: Name, request: Request, services: ServicesDep, auth: AuthDep) -> UserPublic:
    """Disable an account: no login; its sessions end at their next request."""
    _work(services, auth, lambda s: accounts.set_disabled(session=s, name=name, disabled=True))
    _changed(request, name, "user disabled")
    return _one(services, name)


@router.post("/users/{name}/enable", dependencies=_ADMIN)
def enable_user(name: Name, request: Request, services: ServicesDep, auth: AuthDep) -> UserPublic:
    """Enable a disabled account again."""
    _work(services, auth, lambda s: accounts.set_disabled(session=s, name=name, disabled=False))
    _changed(request, name, "user enabled")
    return _one(services, name)


@router.post("/users/{name}/unlock", dependencies=_ADMIN)
def unlock_user(name: Name, request: Request, services: ServicesDep, auth: AuthDep) -> UserPublic:
    """End a lockout now."""
    _work(services, auth, lambda s: accounts.unlock(session=s, name=name))
    _changed(request, name, "lockout ended")
    return _one(services, name)


@router.post("/users/{name}/reset-2fa", dependencies=_ADMIN)
def reset_2fa(name: Name, request: Request, services: ServicesDep, auth: AuthDep) -> UserPublic:
    """Remove an account's 2FA (lost phone); the user enrols again at the next login."""
    _work(services, auth, lambda s: accounts.reset_totp(session=s, name=name))
    _changed(request, name, "2FA reset")
    return _one(services, name)


@router.post("/users/{name}/role", dependencies=_ADMIN)
def change_role(
    name: Name, body: RoleChange, request: Request, services: ServicesDep, auth: AuthDep
) -> UserPublic:
    """Give an account another role (400 unknown role, 404 unknown user); it applies from
    the user's next request."""
    previous = _work(
        services,
        auth,
        lambda s: accounts.set_role(session=s, name=name, role=body.role, policy=auth.policy),
    )
    _changed(
        request,
        name,
        f"role changed from {previous} to {body.role}",
        role=True,
    )
    return _one(services, name)


@router.put("/users/{name}/display-name", dependencies=_ADMIN)
def change_display_name(
    name: Name, body: DisplayNameChange, request: Request, services: ServicesDep, auth: AuthDep
) -> UserPublic:
    """Set (or with null/empty remove) an account's display name, the name its reports are
    signed with (422 not a PN value, 404 unknown user). Reports signed before keep theirs."""
    previous = _work(
        services,
        auth,
        lambda s: accounts.set_display_name(session=s, name=name, display_name=body.display_name),
    )
    _changed(
        request,
        name,
        f"display name changed from {previous or '(none)'} to {body.display_name or '(none)'}",
    )
    return _one(services, name)


@router.get("/tokens", dependencies=_ADMIN)
def list_tokens(services: ServicesDep) -> list[TokenPublic]:
    """Every API token (never the token itself)."""
    with services.session_factory() as s:
        return [
            TokenPublic(
                name=t.name,
                role=t.role,
                created_at=t.created_at,
                expires_at=t.expires_at,
                revoked=t.revoked,
            )
            for t in tokens.list_tokens(session=s)
        ]


@router.post("/tokens", status_code=201, dependencies=_ADMIN)
def create_token(
    body: TokenCreate, request: Request, services: ServicesDep, auth: AuthDep
) -> TokenCreated:
    """Create an API token; the answer holds its text, which is never shown again."""
    text = _work(
        services,
        auth,
        lambda s: tokens.create_token(
            session=s, name=body.name, role=body.role, policy=auth.policy, clock=auth.clock
        ),
    )
    _changed(request, body.name, f"API token created with role {body.role}")
    return TokenCreated(name=body.name, role=body.role, token=text)


@router.post("/tokens/{name}/revoke", status_code=204, dependencies=_ADMIN)
def revoke_token(name: Name, request: Request, services: ServicesDep, auth: AuthDep) -> None:
    """Revoke an API token for good (404 unknown)."""
    _work(services, auth, lambda s: tokens.revoke_token(session=s, name=name, clock=auth.clock))
    _changed(request, name, "API token revoked")
