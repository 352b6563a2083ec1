"""Accept negotiation (raddx.web.dicomweb._media)."""

from __future__ import annotations

import pytest

from raddx.web._errors import NotAcceptable
from raddx.web.dicomweb._media import negotiate

JSON = [("application/dicom+json", None), ("application/json", None)]
DICOM = [("multipart/related", "application/dicom")]


@pytest.mark.parametrize(
    ("accept", "offers", "chosen"),
    [
        (None, JSON, "application/dicom+json"),  # no Accept: anything
        ("", JSON, "application/dicom+json"),
        ("*/*", JSON, "application/dicom+json"),
        ("application/json", JSON, "application/json"),
        ("application/*;q=0.5, application/json", JSON, "application/json"),  # q orders
        ('multipart/related; type="application/dicom"', DICOM, "multipart/related"),
        (
            "multipart/related; type=application/dicom; transfer-syntax=*",
            DICOM,
            "multipart/related",
        ),
        ("multipart/related", DICOM, "multipart/related"),  # no type: any part type
        ('multipart/related; type="*/*"', DICOM, "multipart/related"),  # dicomweb-client frames
        ('multipart/related; type="application/*"', DICOM, "multipart/related"),
    ],
)
def test_negotiate(accept: str | None, offers: list, chosen: str) -> None:
    assert negotiate(accept, offers)[0] == chosen


@pytest.mark.parametrize(
    ("accept", "offers"),
    [
        ('multipart/related; type="application/dicom+xml"', JSON),
        ('multipart/related; type="application/dicom+xml"', DICOM),
        ("application/json;q=0", JSON),  # q=0 means "not this"
        ("image/png", DICOM),
    ],
)
def test_not_acceptable(accept: str, offers: list) -> None:
    with pytest.raises(NotAcceptable, match="we produce"):
        negotiate(accept, offers)


def test_transfer_syntax_parameter_is_handed_back() -> None:
    accept = 'multipart/related; type="application/dicom"; transfer-syntax="1.2.840.10008.1.2.1"'
    _, media_range = negotiate(accept, DICOM)
    assert media_range.params["transfer-syntax"] == "1.2.840.10008.1.2.1"
