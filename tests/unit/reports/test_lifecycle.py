"""What may happen to a report (raddx.reports.lifecycle): a final report is never edited in
place; amendments and addenda are new versions."""

from __future__ import annotations

import datetime as dt

import pytest

from raddx.errors import Conflict, InvalidInput
from raddx.reports import Person, Predecessor, ReportStatusValues, Sections
from raddx.reports.lifecycle import add_addendum, amend, cancel, edit, finalise, submit_preliminary
from raddx.reports.samples import JST, sample_record

AT = dt.datetime(2024, 4, 2, 10, 0, tzinfo=JST)
VERIFIER = Person(name="確定^花子", id="D002")


def test_draft_to_final_keeps_the_version_and_signs() -> None:
    draft = sample_record(1, status=ReportStatusValues.DRAFT)
    prelim = submit_preliminary(edit(draft, sections=Sections(impression="肺炎")))
    final = finalise(prelim, verifier=VERIFIER, at=AT)
    assert (final.status, final.version, final.verified_at) == ("final", 1, AT)
    assert final.content_sha256 == final.compute_digest()


def test_finalising_without_impression_is_refused() -> None:
    draft = sample_record(1, status=ReportStatusValues.DRAFT)
    draft = edit(draft, sections=Sections(findings="所見のみ"))
    with pytest.raises(InvalidInput, match="needs impression"):
        finalise(draft, verifier=VERIFIER, at=AT)


def test_edit_of_a_final_report_in_place_is_refused() -> None:
    final = sample_record(1)
    with pytest.raises(Conflict, match="amend it"):
        edit(final, sections=Sections(impression="変更"))


def test_amend_makes_a_new_signed_version_with_predecessor() -> None:
    final = sample_record(1)
    new = amend(final, verifier=VERIFIER, at=AT, sections=Sections(impression="訂正後"))
    assert (new.version, new.status, new.predecessor) == (
        2,
        "amended",
        Predecessor(final.report_id, 1),
    )
    assert new.sections.impression == "訂正後" and new.content_sha256 != final.content_sha256


def test_addendum_is_a_new_version_keeping_the_text() -> None:
    final = sample_record(1)
    new = add_addendum(final, text="追記: 比較読影済み", author=VERIFIER, verifier=VERIFIER, at=AT)
    assert new.version == 2 and new.sections == final.sections
    assert [a.text for a in new.addenda] == ["追記: 比較読影済み"]


@pytest.mark.parametrize("field", ["report_id", "version", "status", "content_sha256"])
def test_identity_fields_cannot_be_edited(field: str) -> None:
    draft = sample_record(1, status=ReportStatusValues.DRAFT)
    with pytest.raises(InvalidInput, match="cannot be edited"):
        edit(draft, **{field: "x"})


def test_amending_an_unsigned_report_is_refused_and_cancelled_is_terminal() -> None:
    draft = sample_record(1, status=ReportStatusValues.DRAFT)
    with pytest.raises(Conflict, match="edit it instead"):
        amend(draft, verifier=VERIFIER, at=AT)
    with pytest.raises(Conflict, match="nothing follows"):
        edit(cancel(draft), institution="x")
