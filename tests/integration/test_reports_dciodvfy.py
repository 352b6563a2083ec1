"""The DICOM objects a report becomes — TID 2000 SR, Key Object Selection (TID 2010) and
Encapsulated PDF — have no IOD error in dicom3tools' dciodvfy (issue 7 validation)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dicom3tools import dciodvfy_errors
from raddx.reports import Person, ReportRecord, ReportStatusValues, Sections
from raddx.reports.formats.kos import to_kos
from raddx.reports.formats.pdf import to_pdf
from raddx.reports.formats.sr import to_encapsulated_pdf, to_sr
from raddx.reports.lifecycle import amend
from raddx.reports.samples import sample_record

_FINAL = sample_record(7)
_AMENDED = amend(
    _FINAL,
    verifier=_FINAL.verifier,  # type: ignore[arg-type]
    at=_FINAL.verified_at,  # type: ignore[arg-type]
    sections=Sections(impression="訂正: 肺腺癌疑い"),
)
_PRELIMINARY = sample_record(8, status=ReportStatusValues.PRELIMINARY)
#: Author and verifier with account display names (PN with kanji and kana groups).
_NAMED = _FINAL.replace(
    author=Person(name="Tanaka^Taro=田中^太郎=たなか^たろう", id="dr-tanaka"),
    verifier=Person(name="=鈴木^花子=すずき^はなこ", id="dr-suzuki"),
    content_sha256=None,
)


def _with_prior(record: ReportRecord) -> ReportRecord:
    """``record`` also read over a prior MR study with a key image there."""
    two = sample_record(7, prior_study=True)
    return record.replace(
        studies=(record.studies[0], two.studies[1]),
        key_images=(*record.key_images, two.key_images[1]),
    )


_MAKERS: dict[str, Callable[[ReportRecord], bytes]] = {
    "sr": to_sr,
    "kos": to_kos,
    # The KOS of a report's second study: only that study's images, no SR reference.
    "kos-second-study": lambda r: to_kos(_with_prior(r), _with_prior(r).studies[1].study_uid),
    "pdf": lambda r: to_encapsulated_pdf(r, to_pdf(r)),
}


@pytest.mark.parametrize("kind", sorted(_MAKERS))
@pytest.mark.parametrize(
    "record",
    [_FINAL, _AMENDED, _PRELIMINARY, _NAMED],
    ids=["final", "amended", "preliminary", "display-names"],
)
def test_report_objects_have_no_iod_error(tmp_path: Path, kind: str, record: ReportRecord) -> None:
    path = tmp_path / f"{kind}.dcm"
    path.write_bytes(_MAKERS[kind](record))
    assert dciodvfy_errors(path) == set()
