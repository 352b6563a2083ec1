"""Query parameters → Query (raddx.web.dicomweb.qido.search_request): what each parameter
becomes, and what is refused. The matching itself is the query engine's (tested there)."""

from __future__ import annotations

import pytest

from raddx.archive.query import InformationModelValues, QueryRetrieveLevelValues
from raddx.errors import InvalidInput
from raddx.web.dicomweb.qido import search_request

STUDY = QueryRetrieveLevelValues.STUDY
SERIES = QueryRetrieveLevelValues.SERIES


@pytest.mark.parametrize(
    ("params", "keyword", "value"),
    [
        ([("PatientName", "Yamada*")], "PatientName", "Yamada*"),
        ([("00100010", "Yamada*")], "PatientName", "Yamada*"),  # tag
        ([("0010001", "x")], None, None),  # seven digits: neither tag nor keyword → refused
        ([("StudyInstanceUID", "1.2,1.3")], "StudyInstanceUID", "1.2\\1.3"),  # UID list
        ([("AccessionNumber", "A,B")], "AccessionNumber", "A,B"),  # only UIDs are lists
        ([("PatientName", "")], "PatientName", ""),  # empty: universal
        (
            [("RequestAttributesSequence.RequestedProcedureID", "RP1")],
            "RequestAttributesSequence",
            [{"RequestedProcedureID": "RP1"}],
        ),
    ],
)
def test_keys(params: list[tuple[str, str]], keyword: str | None, value: object) -> None:
    if keyword is None:
        with pytest.raises(InvalidInput, match="neither a DICOM keyword"):
            search_request(params, level=STUDY)
        return
    assert search_request(params, level=STUDY).query.keys[keyword] == value


def test_defaults_limit_and_paging() -> None:
    search = search_request([("limit", "5"), ("offset", "10")], level=STUDY, max_results=3)
    assert search.page == 3  # lowered to the server's cap
    assert search.query.limit == 4  # one more, to see truncation
    assert search.query.offset == 10
    assert {"StudyInstanceUID", "PatientName", "ModalitiesInStudy"} <= set(search.query.keys)


def test_includefield_all_and_fuzzy() -> None:
    search = search_request(
        [("includefield", "all"), ("fuzzymatching", "true")],
        level=SERIES,
        default_levels=(STUDY,),
    )
    assert search.query.fuzzy
    assert {"InstitutionName", "BodyPartExamined", "PatientBirthDate"} <= set(search.query.keys)
    assert "SOPInstanceUID" not in search.query.keys


def test_patient_level_in_patient_root() -> None:
    search = search_request(
        [("PatientID", "P1")],
        level=QueryRetrieveLevelValues.PATIENT,
        model=InformationModelValues.PATIENT_ROOT,
    )
    assert search.query.information_model is InformationModelValues.PATIENT_ROOT
    assert "NumberOfPatientRelatedStudies" in search.query.keys


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([("limit", "0")], "limit must be at least 1"),
        ([("offset", "x")], "offset must be an integer"),
        ([("fuzzymatching", "1")], "fuzzymatching must be true or false"),
        ([("PatientID", "A"), ("00100020", "B")], "given twice"),  # keyword and tag alike
        ([("RequestAttributesSequence.A.B", "x")], "one level of sequence"),
        ([("TimezoneOffsetFromUTC", "+2500")], "TimezoneOffsetFromUTC"),
    ],
)
def test_refused(params: list[tuple[str, str]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        search_request(params, level=STUDY)


def test_includefield_of_a_lower_level_is_ignored() -> None:
    # OHIF's study search asks for 00080060 (Modality, a series attribute).
    search = search_request([("includefield", "00081030,00080060")], level=STUDY)
    assert "StudyDescription" in search.query.keys
    assert "Modality" not in search.query.keys
