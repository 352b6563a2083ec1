"""The accession number issuer rule (raddx.ris.accession_issuer), as a table."""

from __future__ import annotations

import pytest

from raddx.ris.accession_issuer import AccessionIssuer, issuers_agree

HOSPITAL = AccessionIssuer("東京病院放射線科")
CLINIC = AccessionIssuer("横浜クリニック")
ISO = AccessionIssuer("", "1.2.392.200036.9116", "ISO")


@pytest.mark.parametrize(
    ("order", "image", "ok"),
    [
        (HOSPITAL, HOSPITAL, True),
        (HOSPITAL, CLINIC, False),
        (None, CLINIC, True),  # an order raddx numbered itself: the number alone
        (HOSPITAL, None, True),  # most modalities copy only the number
        (None, None, True),
        # Nothing in common to compare: not shown to differ, linked.
        (HOSPITAL, ISO, True),
        (AccessionIssuer("東京病院放射線科", "1.2.3", "ISO"), ISO, False),
        (ISO, AccessionIssuer("", "1.2.392.200036.9116", "DNS"), False),
    ],
)
def test_issuers_agree(
    order: AccessionIssuer | None, image: AccessionIssuer | None, ok: bool
) -> None:
    agreed, reason = issuers_agree(order, image)
    assert agreed is ok
    assert bool(reason) is not ok


def test_reason_names_the_component_and_both_values() -> None:
    _, reason = issuers_agree(HOSPITAL, CLINIC)
    assert "LocalNamespaceEntityID" in reason
    assert "東京病院放射線科" in reason and "横浜クリニック" in reason


@pytest.mark.parametrize(
    "issuer", [HOSPITAL, ISO, AccessionIssuer("LOCAL", "urn:x", "URI")], ids=str
)
def test_canonical_round_trip(issuer: AccessionIssuer) -> None:
    assert AccessionIssuer.parse(issuer.canonical) == issuer


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        (("A^B",), r"contains '\^'"),
        (("", "1.2.3", ""), "without UniversalEntityIDType"),
        (("", "1.2.3", "OID"), "is not one of"),
        (("x" * 65,), "longer than 64"),
    ],
)
def test_invalid_issuer_is_refused(parts: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AccessionIssuer(*parts)


def test_from_items_is_lenient() -> None:
    assert AccessionIssuer.from_items([]) is None
    assert AccessionIssuer.from_items([{"local_namespace_entity_id": "  "}]) is None
    # An unusable value from an image is dropped, not fatal (read leniently).
    assert AccessionIssuer.from_items([{"universal_entity_id": "1.2.3"}]) is None
    assert AccessionIssuer.from_items([{"local_namespace_entity_id": "東京"}]) == (
        AccessionIssuer("東京")
    )
