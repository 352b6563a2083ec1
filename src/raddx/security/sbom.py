"""The software bill of materials (CycloneDX 1.6 JSON) of the installed raddx (MDS2 SBOM-1..3).

Built from the distributions the running interpreter actually has (``importlib.metadata``),
not from ``pyproject.toml``: a hospital asks what is *installed*, and a pinned range says
nothing about the version that was resolved. cyclonedx-python-lib builds and serialises the
document, so its structure follows the CycloneDX schema without hand-written JSON.
"""

from __future__ import annotations

import importlib.metadata as metadata
import re

from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL
from packaging.requirements import InvalidRequirement, Requirement

from raddx import __version__

__all__ = ["build_sbom", "installed_distributions"]


def _canonical(name: str) -> str:
    """PEP 503 normalised name, as purls for PyPI use it."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> dict[str, tuple[str, frozenset[str]]]:
    """Normalised name → (version, names of its installed run-time requirements) for every
    distribution in this environment, raddx included."""
    found: dict[str, tuple[str, list[str]]] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if not name:
            continue
        needs = []
        for line in dist.requires or ():
            try:
                requirement = Requirement(line)
            except InvalidRequirement:
                continue
            # Extras the installation did not ask for are not part of it.
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                needs.append(_canonical(requirement.name))
        found.setdefault(_canonical(name), (dist.version, needs))
    return {
        key: (version, frozenset(n for n in needs if n in found))
        for key, (version, needs) in found.items()
    }


def _component(name: str, version: str) -> Component:
    purl = PackageURL(type="pypi", name=name, version=version)
    return Component(
        name=name,
        version=version,
        type=ComponentType.LIBRARY,
        purl=purl,
        bom_ref=purl.to_string(),
    )


def build_sbom() -> str:
    """The CycloneDX 1.6 JSON document: raddx as the described component, every installed
    distribution as a library component with its PyPI purl, and who requires whom."""
    installed = installed_distributions()
    bom = Bom()
    root = _component("raddx", __version__)
    root.type = ComponentType.APPLICATION
    bom.metadata.component = root
    components = {"raddx": root}
    for name, (version, _) in sorted(installed.items()):
        if name != "raddx":
            components[name] = _component(name, version)
            bom.components.add(components[name])
    # The dependency graph from each distribution's own metadata (SBOM-2.4): who pulls what.
    for name, component in components.items():
        needs = installed.get(name, (None, frozenset()))[1]
        bom.register_dependency(component, [components[n] for n in sorted(needs) if n != name])
    return JsonV1Dot6(bom).output_as_string(indent=2)
