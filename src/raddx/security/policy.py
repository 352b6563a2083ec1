"""Roles and permissions: the policy file, loaded once and checked on every request.

Deny by default: a principal may perform an action only if its role lists that permission
(directly, through ``inherits``, or through ``"*"``). The catalogue of permissions ships with
raddx (``policy.yaml`` beside this module); a site may replace the role table with its own
file (setting ``security_policy_file``). The ``service`` role never holds a permission marked
``phi`` (MDS2 RMOT/SAHD-6: remote service sees no patient data): a policy that gives it one
is refused at load time.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ROLES", "Permission", "Policy", "default_policy", "load_policy", "permissions"]

#: The roles issue 9 names; a site file may add others but must keep these.
ROLES = ("viewer", "technologist", "radiologist", "admin", "auditor", "service")
_NO_PHI_ROLES = frozenset({"service"})


@dataclass(frozen=True, slots=True)
class Permission:
    """One action name of the catalogue (``"archive.read"``)."""

    name: str
    phi: bool
    description: str


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    text = resources.files("raddx.security").joinpath("policy.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError("raddx/security/policy.yaml is not a mapping")
    return data


@functools.lru_cache(maxsize=1)
def permissions() -> Mapping[str, Permission]:
    """The shipped permission catalogue, by name."""
    return {
        name: Permission(name=name, phi=bool(spec["phi"]), description=str(spec["description"]))
        for name, spec in _shipped()["permissions"].items()
    }


class Policy:
    """Role → permissions, resolved (inheritance and ``"*"`` expanded) and validated.

    Raises
    ------
    ValueError
        A role names an unknown permission or an unknown parent role, inheritance loops, one
        of :data:`ROLES` is missing, or a no-PHI role holds a PHI permission.
    """

    def __init__(self, roles: Mapping[str, Any]) -> None:
        catalogue = permissions()
        if not isinstance(roles, Mapping):
            raise ValueError("roles: expected a mapping of role name to its definition")
        missing = [r for r in ROLES if r not in roles]
        if missing:
            raise ValueError(f"roles: missing {', '.join(missing)}")
        resolved: dict[str, frozenset[str]] = {}

        def resolve(role: str, seen: tuple[str, ...]) -> frozenset[str]:
            if role in resolved:
                return resolved[role]
            if role in seen:
                raise ValueError(f"roles: inheritance loop {' -> '.join((*seen, role))}")
            if role not in roles:
                raise ValueError(f"roles: {seen[-1]} inherits unknown role {role!r}")
            spec = roles[role] or {}
            names = set()
            for name in spec.get("permissions", []):
                if name == "*":
                    names |= set(catalogue)
                elif name not in catalogue:
                    raise ValueError(f"roles: {role} names unknown permission {name!r}")
                else:
                    names.add(name)
            for parent in spec.get("inherits", []):
                names |= resolve(parent, (*seen, role))
            resolved[role] = frozenset(names)
            return resolved[role]

        for role in roles:
            resolve(role, ())
        for role in _NO_PHI_ROLES:
            phi = sorted(n for n in resolved[role] if catalogue[n].phi)
            if phi:
                raise ValueError(f"roles: {role} may not hold patient-data permissions {phi}")
        self._roles = resolved
        self._descriptions = {
            role: str((roles[role] or {}).get("description", "")) for role in roles
        }

    @property
    def roles(self) -> tuple[str, ...]:
        """The role names, in file order."""
        return tuple(self._roles)

    def description_of(self, role: str) -> str:
        """The role's description from the policy file ("" if none or unknown)."""
        return self._descriptions.get(role, "")

    def permissions_of(self, role: str) -> frozenset[str]:
        """What ``role`` may do; empty for an unknown role (deny by default)."""
        return self._roles.get(role, frozenset())

    def allows(self, role: str, action: str) -> bool:
        """True if ``role`` holds ``action``."""
        return action in self._roles.get(role, ())


@functools.lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped role table."""
    return Policy(_shipped()["roles"])


def load_policy(path: Path | None) -> Policy:
    """The site's role table from ``path`` (YAML with a ``roles:`` mapping), or the shipped
    one when ``path`` is None."""
    if path is None:
        return default_policy()
    data = yaml.safe_load(Path(path).read_text("utf-8"))
    if not isinstance(data, dict) or "roles" not in data:
        raise ValueError(f"{path}: expected a mapping with a 'roles' key")
    return Policy(data["roles"])
