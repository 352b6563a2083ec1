"""The issuer of an accession number, and the one rule that compares an order's with an
image's (issue 6 §6, reconciliation).

An accession number is unique only within its issuer: two departments (or a hospital and a
referring clinic whose images are imported) may both hand out ``A0001``. DICOM carries the
issuer in IssuerOfAccessionNumberSequence (0008,0051), an HL7 v2 HD: LocalNamespaceEntityID,
UniversalEntityID and UniversalEntityIDType (PS3.3 10.5 HL7v2 Hierarchic Designator Macro);
HL7 v2 carries it in the EI components after the number (IPC-1 ``number^namespace
ID^universal ID^universal ID type``). raddx keeps it in one canonical text, the HD's three
components joined with ``^`` (:meth:`AccessionIssuer.canonical`), on the order
(``ris_order.issuer_of_accession_number``) and on the study in the index
(``study.issuer_of_accession_number``, from the study's first object).

The rule (:func:`issuers_agree`), used wherever an image is linked to an order by its
accession number (on arrival, ``POST /api/reconciliation/auto``, the unmatched list's
reason):

* both carry an issuer and a component both give differs → **no link** (a different
  namespace's number); the study stays unmatched with that reason;
* either side carries none (most modalities copy only the number from the worklist, and an
  order raddx numbered itself has none) → linked as before, by the number alone;
* both carry one but no component in common (one gives only the local namespace, the other
  only the universal ID) → linked: nothing shows they differ.

Components are compared exactly (after removing padding), as identifiers are. The Modality
Worklist and the query engine do not match on the issuer (so there is no second place for
the rule): the worklist answers the order's IssuerOfAccessionNumberSequence as a return key
(:func:`raddx.archive.query.worklist.accession_issuer_items`), for the modality to copy into
its images, and in C-FIND/QIDO it is not a matching key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["AccessionIssuer", "issuers_agree"]

#: Component labels, in HD order, for messages.
_LABELS = ("LocalNamespaceEntityID", "UniversalEntityID", "UniversalEntityIDType")
#: UniversalEntityIDType Defined Terms (PS3.3 10.14.1.3; HL7 Table 0301).
UNIVERSAL_ENTITY_ID_TYPES = frozenset({"DNS", "EUI64", "ISO", "URI", "UUID", "X400", "X500"})


@dataclass(frozen=True, slots=True)
class AccessionIssuer:
    """An accession number's issuer (HD: local namespace, universal ID and its type).

    Raises
    ------
    ValueError
        A component holds ``^`` (it could not be told apart from the next one), is longer
        than 64 characters (LO/UT limits of the DICOM items), a universal ID without its type
        or a type outside the Defined Terms.
    """

    local_namespace_entity_id: str = ""
    universal_entity_id: str = ""
    universal_entity_id_type: str = ""

    def __post_init__(self) -> None:
        for label, value in zip(_LABELS, self._parts(), strict=True):
            if "^" in value:
                raise ValueError(f"{label} {value!r} contains '^'")
            if len(value) > 64:
                raise ValueError(f"{label} is longer than 64 characters")
        if self.universal_entity_id and not self.universal_entity_id_type:
            raise ValueError("UniversalEntityID given without UniversalEntityIDType")
        if (
            self.universal_entity_id_type
            and self.universal_entity_id_type not in UNIVERSAL_ENTITY_ID_TYPES
        ):
            raise ValueError(
                f"UniversalEntityIDType {self.universal_entity_id_type!r} is not one of "
                f"{sorted(UNIVERSAL_ENTITY_ID_TYPES)}"
            )

    def _parts(self) -> tuple[str, str, str]:
        return (
            self.local_namespace_entity_id,
            self.universal_entity_id,
            self.universal_entity_id_type,
        )

    @property
    def canonical(self) -> str | None:
        """``local^universal^type`` as stored, ``None`` when empty."""
        if not any(self._parts()):
            return None
        return "^".join(self._parts()).rstrip("^")

    @classmethod
    def parse(cls, canonical: str | None) -> AccessionIssuer | None:
        """The issuer stored as :attr:`canonical` (``None`` stays ``None``)."""
        if not canonical:
            return None
        parts = [p.strip() for p in canonical.split("^")]
        parts += [""] * (3 - len(parts))
        return cls(*parts[:3])

    @classmethod
    def from_items(cls, items: Iterable[Mapping[str, str | None]]) -> AccessionIssuer | None:
        """From the indexed items of IssuerOfAccessionNumberSequence (only the first item
        counts: the sequence holds one, PS3.3 C.7.2.1); ``None`` when absent or empty.
        Read leniently: a value that cannot be one (``^`` in it) is dropped, not fatal."""
        for item in items:
            parts = tuple(
                (item.get(key) or "").strip()
                for key in (
                    "local_namespace_entity_id",
                    "universal_entity_id",
                    "universal_entity_id_type",
                )
            )
            try:
                return cls(*parts) if any(parts) else None
            except ValueError:
                return None
        return None

    def __str__(self) -> str:
        return self.canonical or ""


def issuers_agree(order: AccessionIssuer | None, image: AccessionIssuer | None) -> tuple[bool, str]:
    """Whether an image with ``image``'s issuer may be linked to an order with ``order``'s
    (same accession number); ``(ok, reason)`` where ``reason`` says which component differs.
    """
    if order is None or image is None:
        return True, ""
    for label, ours, theirs in zip(_LABELS, order._parts(), image._parts(), strict=True):
        if ours and theirs and ours != theirs:
            return False, (
                f"IssuerOfAccessionNumberSequence {label} differs: order {ours!r}, image {theirs!r}"
            )
    return True, ""
