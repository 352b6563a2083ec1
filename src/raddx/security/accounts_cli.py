"""``raddx user`` and ``raddx token``: accounts and API tokens for operators and scripts.

Passwords are read from standard input (never from the command line, where ``ps`` and the
shell history would show them). A token's text is printed once, when it is created; only its
SHA-256 is stored. Every change is audited once it is committed, as over REST (Security Alert
110137 User Security Attributes Changed), with the operator's OS account as the requestor.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer
from sqlalchemy.orm import Session

from raddx._cli_options import DatabaseUrl, DataDir, load_cli_settings
from raddx.errors import RaddxError

__all__ = ["token_app", "user_app"]

T = TypeVar("T")

user_app = typer.Typer(
    help="User accounts: add (password from stdin), list, disable, enable, unlock, reset 2FA.",
    no_args_is_help=True,
)
token_app = typer.Typer(
    help="API tokens for machine clients (Bearer, or Basic with the token as password).",
    no_args_is_help=True,
)


@contextmanager
def _services(data_dir: Any, database_url: Any) -> Iterator[tuple[Any, Any, Any]]:
    """The services, the policy and the account rules of the configuration; closing the
    services writes the audit events recorded meanwhile."""
    from raddx.security import load_policy, rules_from_settings
    from raddx.services import Services

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    try:
        yield services, load_policy(settings.security_policy_file), rules_from_settings(settings)
    finally:
        services.close()


def _run(
    data_dir: Any,
    database_url: Any,
    action: Callable[[Session, Any, Any], T],
    changed: tuple[str, str] | Callable[[T], tuple[str, str]] | None = None,
) -> T:
    """Run ``action`` in one unit of work; a refusal prints its reason and exits 1.
    ``changed`` (subject, description), or a function of the action's result giving them,
    is audited once the change is committed."""
    from raddx.security import audit, audit_events
    from raddx.security.audit_cli import _operator

    try:
        with _services(data_dir, database_url) as (services, policy, rules):
            with services.session_factory() as s, s.begin():
                result = action(s, policy, rules)
            if changed is not None:
                subject, description = changed(result) if callable(changed) else changed
                audit.record(
                    audit_events.user_security_changed(
                        by=_operator(), subject=subject, description=description
                    )
                )
            return result
    except RaddxError as exc:
        typer.echo(f"raddx: {exc}", err=True)
        raise typer.Exit(1) from None


def _read_password() -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            typer.echo("raddx: the passwords differ", err=True)
            raise typer.Exit(1)
        return first
    return sys.stdin.readline().rstrip("\r\n")


#: ``--display-name``: the person's name as a DICOM PN value with its groups.
DisplayName = Annotated[
    str | None,
    typer.Option(
        "--display-name",
        help="The person's name as a DICOM PN value, alphabetic=ideographic=phonetic, e.g. "
        "'Tanaka^Taro=田中^太郎=たなか^たろう'; reports show it as author/verifier "
        "(the login name when there is none).",
    ),
]


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (what they log in with).")],
    role: Annotated[
        str,
        typer.Option(help="viewer, technologist, radiologist, admin, auditor or service."),
    ],
    display_name: DisplayName = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user; the password is read from standard input (first line), or asked twice
    on a terminal. Exit 1 if the name is taken, the role unknown, the display name not a PN
    value or the password refused by the policy (too short, equal to the name)."""
    from raddx.security import accounts

    try:  # before the password is asked for
        display_name = accounts.check_display_name(display_name)
    except RaddxError as exc:
        typer.echo(f"raddx: {exc}", err=True)
        raise typer.Exit(1) from None
    password = _read_password()
    named = f", display name {display_name}" if display_name else ""
    _run(
        data_dir,
        database_url,
        lambda s, policy, rules: accounts.create_user(
            session=s,
            name=name,
            role=role,
            password=password,
            policy=policy,
            rules=rules.accounts,
            display_name=display_name,
        ),
        changed=(name, f"user created with role {role}{named}"),
    )
    typer.echo(f"user {name} created with role {role}{named}")


@user_app.command("modify")
def user_modify(
    name: Annotated[str, typer.Argument(help="User name.")],
    display_name: DisplayName = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Change a user's display name (``--display-name ''`` removes it: the login name is
    shown again). Exit 1 for an unknown user or a display name that is not a PN value."""
    from raddx.security import accounts

    if display_name is None:
        typer.echo("raddx: nothing to change (give --display-name)", err=True)
        raise typer.Exit(2)
    try:
        value = accounts.check_display_name(display_name)
    except RaddxError as exc:
        typer.echo(f"raddx: {exc}", err=True)
        raise typer.Exit(1) from None
    _run(
        data_dir,
        database_url,
        lambda s, policy, rules: accounts.set_display_name(
            session=s, name=name, display_name=value
        ),
        changed=lambda previous: (
            name,
            f"display name changed from {previous or '(none)'} to {value or '(none)'}",
        ),
    )
    typer.echo(f"user {name}: display name {value or '(none: the login name is shown)'}")


@user_app.command("list")
def user_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """One line per user: name, role, state (active, disabled, locked until …), 2FA."""
    from raddx.security import accounts

    users = _run(data_dir, database_url, lambda s, p, r: accounts.list_users(session=s))
    for u in users:
        state = "disabled" if u.disabled else "active"
        if u.locked_until is not None:
            state += f", locked until {u.locked_until.isoformat(timespec='seconds')}"
        totp = "2fa" if u.totp_enrolled else "no-2fa"
        shown = f"\t{u.display_name}" if u.display_name else ""
        typer.echo(f"{u.name}\t{u.role}\t{state}\t{totp}{shown}")


def _set_disabled(name: str, disabled: bool, data_dir: Any, database_url: Any) -> None:
    from raddx.security import accounts

    _run(
        data_dir,
        database_url,
        lambda s, p, r: accounts.set_disabled(session=s, name=name, disabled=disabled),
        changed=(name, "user disabled" if disabled else "user enabled"),
    )


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Disable a user: no login, and their open sessions end at their next request."""
    _set_disabled(name, True, data_dir, database_url)
    typer.echo(f"user {name} disabled")


@user_app.command("enable")
def user_enable(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Enable a disabled user again."""
    _set_disabled(name, False, data_dir, database_url)
    typer.echo(f"user {name} enabled")


@user_app.command("unlock")
def user_unlock(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """End a lockout after repeated failed logins now (it also ends by itself)."""
    from raddx.security import accounts

    _run(
        data_dir,
        database_url,
        lambda s, p, r: accounts.unlock(session=s, name=name),
        changed=(name, "lockout ended"),
    )
    typer.echo(f"user {name} unlocked")


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Set a user's password (read from standard input); the last N are refused."""
    from raddx.security import accounts

    password = _read_password()
    _run(
        data_dir,
        database_url,
        lambda s, p, r: accounts.set_password(
            session=s, name=name, password=password, rules=r.accounts
        ),
        changed=(name, "password set by an operator"),
    )
    typer.echo(f"password of {name} changed")


@user_app.command("reset-2fa")
def user_reset_2fa(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove a user's 2FA (lost phone, no recovery code left); they enrol again at login."""
    from raddx.security import accounts

    _run(
        data_dir,
        database_url,
        lambda s, p, r: accounts.reset_totp(session=s, name=name),
        changed=(name, "2FA reset"),
    )
    typer.echo(f"2FA of {name} removed")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="Token name (who or what uses it).")],
    role: Annotated[
        str, typer.Option(help="The token's role (least privilege: viewer by default).")
    ] = "viewer",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API token and print it (once: it cannot be shown again). Clients send it as
    ``Authorization: Bearer <token>``, or as the password of HTTP Basic."""
    from raddx.security import tokens

    text = _run(
        data_dir,
        database_url,
        lambda s, policy, r: tokens.create_token(session=s, name=name, role=role, policy=policy),
        changed=(name, f"API token created with role {role}"),
    )
    typer.echo(text)


@token_app.command("list")
def token_list(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """One line per token: name, role, created, state (never the token itself)."""
    from raddx.security import tokens

    rows = _run(data_dir, database_url, lambda s, p, r: tokens.list_tokens(session=s))
    for t in rows:
        state = "revoked" if t.revoked else "active"
        typer.echo(f"{t.name}\t{t.role}\t{t.created_at.isoformat(timespec='seconds')}\t{state}")


@token_app.command("revoke")
def token_revoke(
    name: Annotated[str, typer.Argument(help="Token name.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a token for good. A running server may accept it for up to
    ``auth_cache_seconds`` more (its in-memory cache of recent successes)."""
    from raddx.security import tokens

    _run(
        data_dir,
        database_url,
        lambda s, p, r: tokens.revoke_token(session=s, name=name),
        changed=(name, "API token revoked"),
    )
    typer.echo(f"token {name} revoked")
