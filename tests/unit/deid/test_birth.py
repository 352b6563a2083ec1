"""Birth-date generalisation, top-coding and age buckets (``raddx.deid.birth``) and the engine's
use of them: consistent with the patient's date shift and with the top-coded PatientAge."""

from __future__ import annotations

import datetime as dt
import io

import pydicom
import pytest

from dicom_factory import make_dataset, to_part10
from raddx.deid import Deidentifier, Policy, ProjectKey, load_policy
from raddx.deid.birth import age_in_years, bucket_age, generalise_birth_date
from raddx.deid.dates import DateShifter
from raddx.errors import InvalidInput


@pytest.mark.parametrize(
    ("birth", "reference", "granularity", "offset", "top", "expected"),
    [
        ("19650423", "20261125", "year", None, None, "19650101"),
        ("19650423", "20261125", "year_month", None, None, "19650401"),
        ("19650423", "20261125", "remove", None, None, None),
        # shifted by the patient's offset before cutting: 30 days back crosses into March
        ("19650423", "20261125", "year_month", 30, None, "19650301"),
        # 10 January minus 30 days is in the previous year
        ("19650110", "20261125", "year", 30, None, "19640101"),
        # 95 at the study date, top code 90: born 90 years before the study date
        ("19310301", "20261125", "year_month", None, 90, "19361101"),
        ("19310301", "20261125", "year_month", 10, 90, "19361101"),  # 2026-11-15 - 90y
        ("19361126", "20261125", "year", None, 90, "19360101"),  # 89 the day before: kept
        ("19240229", "20240229", "year_month", None, 90, "19340201"),  # leap day reference
        ("1965", "20261125", "year", None, None, None),  # not a full DA: stays empty
        ("19651332", "20261125", "year", None, None, None),  # no 13th month
        ("", "20261125", "year", None, None, None),
        ("19310301", None, "year", None, 90, "19310101"),  # no reference: no top-coding
    ],
)
def test_generalise_birth_date(
    birth: str,
    reference: str | None,
    granularity: str,
    offset: int | None,
    top: int | None,
    expected: str | None,
) -> None:
    shifter = DateShifter(offset) if offset is not None else None
    result = generalise_birth_date(
        birth,
        reference=reference,
        granularity=granularity,  # type: ignore[arg-type]
        shifter=shifter,
        top=top,
    )
    assert result == expected


@pytest.mark.parametrize(
    ("age", "width", "expected"),
    [("047Y", 5, "045Y"), ("045Y", 5, "045Y"), ("090Y", 10, "090Y"), ("004Y", 5, "000Y"),
     ("011M", 5, None), ("47Y", 5, None), ("", 5, None)],
)  # fmt: skip
def test_bucket_age(age: str, width: int, expected: str | None) -> None:
    assert bucket_age(age, width) == expected


def _policy(**changes: object) -> Policy:
    return Policy.model_validate(load_policy("pseudonymize").model_dump(mode="json") | changes)


def _deidentify(policy: Policy, *, birth: str, age: str = "") -> pydicom.Dataset:
    ds = pydicom.dcmread(io.BytesIO(to_part10(make_dataset(birth_date=birth))))
    if age:
        ds.PatientAge = age
    return Deidentifier(policy, ProjectKey(b"k" * 32)).deidentify(ds)


def _date(text: str) -> dt.date:
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))


def test_engine_keeps_the_age_structure_under_the_date_shift() -> None:
    policy = _policy(birth_date="year_month")
    out = _deidentify(policy, birth="19650423")
    study = _date(out.StudyDate)
    assert out.StudyDate != "20261125"  # pseudonymize shifts dates (Modified Dates option)
    offset = (dt.date(2026, 11, 25) - study).days
    shifted_birth = dt.date(1965, 4, 23) - dt.timedelta(days=offset)
    assert out.PatientBirthDate == f"{shifted_birth.year:04d}{shifted_birth.month:02d}01"
    # the age read off the output is the true age (61), to the month
    assert age_in_years(_date(out.PatientBirthDate), study) in (61, 62)
    assert "birth date generalised to year_month" in out.DeidentificationMethod


def test_engine_top_codes_birth_date_and_age_together() -> None:
    policy = _policy(birth_date="year", age_top_code=90)
    out = _deidentify(policy, birth="19310301", age="095Y")
    assert out.PatientAge == "090Y"
    assert age_in_years(_date(out.PatientBirthDate), _date(out.StudyDate)) == 90
    assert "ages top-coded at 90Y" in out.DeidentificationMethod


def test_engine_default_empties_the_birth_date_and_buckets_ages() -> None:
    out = _deidentify(_policy(birth_date="remove"), birth="19650423")
    assert out.PatientBirthDate == ""  # Table E.1-1: Z
    assert "birth date" not in " ".join(out.DeidentificationMethod)
    bucketed = _deidentify(_policy(age_bucket_years=5), birth="19650423", age="061Y")
    assert bucketed.PatientAge == "060Y"


def test_shipped_policies_generalise() -> None:
    assert load_policy("basic").birth_date == "remove"
    assert load_policy("pseudonymize").birth_date == "year_month"
    anonymize = load_policy("anonymize")
    assert (anonymize.birth_date, anonymize.age_top_code) == ("year", 90)


@pytest.mark.parametrize(
    "changes",
    [{"birth_date": "decade"}, {"age_bucket_years": 1}, {"age_bucket_years": 51}],
)
def test_bad_birth_policies(changes: dict[str, object]) -> None:
    with pytest.raises((ValueError, InvalidInput)):
        _policy(**changes)
