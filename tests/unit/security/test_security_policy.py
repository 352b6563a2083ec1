"""The role table: deny by default, inheritance, the no-PHI rule for the service role, and
site files that are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from raddx.security import ROLES, Policy, load_policy, permissions


def test_shipped_policy_has_every_role_and_denies_unknowns() -> None:
    policy = load_policy(None)
    assert set(ROLES) <= set(policy.roles)
    assert policy.permissions_of("admin") == frozenset(permissions())
    assert not policy.allows("nobody", "archive.read")
    assert not policy.allows("viewer", "no.such.action")
    assert policy.allows("technologist", "archive.read")  # inherited from viewer
    assert not policy.allows("viewer", "dicomweb.store")


def test_service_and_auditor_see_no_images() -> None:
    policy = load_policy(None)
    phi = {name for name, p in permissions().items() if p.phi}
    assert not policy.permissions_of("service") & phi
    assert not policy.allows("auditor", "dicomweb.read")
    assert policy.allows("auditor", "audit.read")


def _roles(**extra: object) -> dict[str, object]:
    roles: dict[str, object] = {r: {"permissions": ["auth.self"]} for r in ROLES}
    roles.update(extra)
    return roles


@pytest.mark.parametrize(
    ("roles", "reason"),
    [
        (_roles(service={"permissions": ["dicomweb.read"]}), "patient-data"),
        (_roles(viewer={"permissions": ["archive.raed"]}), "unknown permission"),
        (_roles(viewer={"inherits": ["ghost"]}), "unknown role"),
        (_roles(viewer={"inherits": ["admin"]}, admin={"inherits": ["viewer"]}), "loop"),
        ({"viewer": {"permissions": []}}, "missing"),
    ],
    ids=["service-phi", "typo", "unknown-parent", "loop", "missing-roles"],
)
def test_bad_role_tables_are_refused(roles: dict[str, object], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        Policy(roles)


def test_site_file_replaces_the_roles(tmp_path: Path) -> None:
    site = tmp_path / "roles.yaml"
    site.write_text(
        "roles:\n"
        + "".join(f"  {r}: {{permissions: [auth.self]}}\n" for r in ROLES if r != "viewer")
        + "  viewer: {permissions: [auth.self, dicomweb.read]}\n",
        encoding="utf-8",
    )
    policy = load_policy(site)
    assert policy.allows("viewer", "dicomweb.read")
    assert not policy.allows("viewer", "report.read")  # the shipped viewer had it
