"""Sort keys of a Query (``raddx.archive.query.ordering``) and report status keys: what may
be sorted by, and the clear error for what may not."""

from __future__ import annotations

import pytest

from raddx.archive.query import Query
from raddx.errors import InvalidInput


def _query(level: str = "STUDY", **options: object) -> Query:
    return Query(level=level, information_model="STUDY_ROOT", keys={}, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "order_by",
    [
        ("StudyDate", "StudyTime"),
        ("-PatientName",),  # a patient attribute is a study-level key in Study Root
        ("+AccessionNumber", "-ModalitiesInStudy"),
        ("StudyDescription", "PatientID"),
    ],
)
def test_sortable(order_by: tuple[str, ...]) -> None:
    keys = _query(order_by=order_by).sort_keys
    assert [k.attribute.keyword for k in keys] == [o.lstrip("+-") for o in order_by]
    assert [k.descending for k in keys] == [o.startswith("-") for o in order_by]


@pytest.mark.parametrize(
    ("order_by", "reason"),
    [
        (("NumberOfStudyRelatedInstances",), "cannot sort by"),  # a count
        (("NoSuchKeyword",), "cannot sort by"),
        (("",), "cannot sort by"),
        (("RequestAttributesSequence",), "cannot sort by"),  # a sequence
        (("Modality",), "SERIES-level"),  # below the query level
        (("StudyDate", "-StudyDate"), "twice"),
    ],
)
def test_not_sortable(order_by: tuple[str, ...], reason: str) -> None:
    with pytest.raises(InvalidInput, match=reason):
        _query(order_by=order_by)


def test_report_status_values_and_level() -> None:
    assert _query(report_status=("final", "none", "final")).report_status == ("final", "none")
    with pytest.raises(InvalidInput, match="'signed' is not one of none, draft"):
        _query(report_status=("signed",))
    with pytest.raises(InvalidInput, match="STUDY-level"):
        _query(level="SERIES", report_status=("final",))
    with pytest.raises(InvalidInput, match="STUDY-level"):
        _query(level="IMAGE", report_status_returned=True)
