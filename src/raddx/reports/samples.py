"""Generated reports with Japanese text, for tests, the benchmark and demonstrations.

Deterministic for a given ``seed``: the same call gives the same records.
"""

from __future__ import annotations

import datetime as dt
import random

from raddx.reports.enum import ReportStatusValues, SexValues
from raddx.reports.record import (
    KeyImage,
    OrderInfo,
    PatientInfo,
    Person,
    ReportRecord,
    Sections,
    StudyRef,
)

__all__ = ["JST", "sample_record"]

JST = dt.timezone(dt.timedelta(hours=9))

_SURNAMES = (
    ("山田", "ヤマダ", "Yamada"),
    ("髙橋", "タカハシ", "Takahashi"),
    ("佐藤", "サトウ", "Sato"),
)
_GIVEN = (("太郎", "タロウ", "Taro"), ("花子", "ハナコ", "Hanako"), ("一郎", "イチロウ", "Ichiro"))
_FINDINGS = (
    "右肺上葉に径12mmの結節影を認める。\n辺縁は不整で、胸膜陥入像を伴う。",
    "肝S6に早期濃染し後期相でwashoutを示す腫瘤を認める。",
    "明らかな頭蓋内出血なし。脳室拡大なし。",
)
_IMPRESSIONS = ("肺癌疑い。精査を推奨。", "肝細胞癌疑い。", "異常所見なし。")


def sample_record(
    n: int = 1,
    *,
    seed: int | None = None,
    status: ReportStatusValues = ReportStatusValues.FINAL,
    study_uid: str | None = None,
    accession_no: str | None = None,
    patient_id: str | None = None,
    prior_study: bool = False,
) -> ReportRecord:
    """Report number ``n``: a CT chest report of a Japanese patient, with key image.

    ``prior_study``: the report also reads a prior MR study (Study UID ``<study>.77``) and
    has a second key image there (frame 2): key images across two studies.
    """
    rng = random.Random(n if seed is None else seed * 1_000_003 + n)
    sur, given = rng.choice(_SURNAMES), rng.choice(_GIVEN)
    created = dt.datetime(2024, 4, 1, 9, 0, tzinfo=JST) + dt.timedelta(minutes=7 * n)
    study = study_uid or f"1.2.392.200036.9116.2.6.1.{1000 + n}"
    signed = status in (
        ReportStatusValues.FINAL,
        ReportStatusValues.AMENDED,
        ReportStatusValues.CORRECTED,
    )
    record = ReportRecord(
        report_id=f"R{n:08d}",
        version=1,
        status=status,
        patient=PatientInfo(
            patient_id=patient_id or f"P{n % 9973:06d}",
            issuer="1.2.392.200036.9125.1",
            name_kanji=f"{sur[0]}^{given[0]}",
            name_kana=f"{sur[1]}^{given[1]}",
            name_alpha=f"{sur[2]}^{given[2]}",
            birth_date=dt.date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
            sex=SexValues.M if n % 2 else SexValues.F,
        ),
        created_at=created,
        order=OrderInfo(
            placer_order_no=f"ORD{n:07d}",
            accession_no=accession_no or f"A{n:08d}",
            procedure_code="32000000",
            procedure_name="胸部CT",
            referring_physician="内科^次郎",
        ),
        studies=(
            StudyRef(
                study_uid=study,
                modalities=("CT",),
                study_datetime=created - dt.timedelta(hours=1),
                body_parts=("CHEST",),
            ),
        ),
        sections=Sections(
            clinical_info="咳嗽が続く。肺癌の除外。",
            findings=rng.choice(_FINDINGS),
            impression=rng.choice(_IMPRESSIONS),
            recommendation="3か月後にCT再検を推奨。" if n % 3 == 0 else "",
        ),
        key_images=(
            KeyImage(
                study_uid=study,
                series_uid=f"{study}.1",
                sop_uid=f"{study}.1.{n % 7 + 1}",
                sop_class_uid="1.2.840.10008.5.1.4.1.1.2",
                comment="結節",
            ),
        ),
        author=Person(name="読影^一郎", id="D001"),
        verifier=Person(name="確定^花子", id="D002") if signed else None,
        verified_at=created + dt.timedelta(hours=2) if signed else None,
        institution="ラドックス総合病院",
    )
    if not prior_study:
        return record
    first = record.studies[0]
    prior = StudyRef(
        study_uid=f"{study}.77",
        modalities=("MR",),
        study_datetime=created - dt.timedelta(days=90),
        body_parts=("CHEST",),
    )
    image = KeyImage(
        study_uid=prior.study_uid,
        series_uid=f"{prior.study_uid}.1",
        sop_uid=f"{prior.study_uid}.1.4",
        sop_class_uid="1.2.840.10008.5.1.4.1.1.4.1",  # Enhanced MR: multi-frame
        comment="前回の結節",
        frame=2,
    )
    return record.replace(studies=(first, prior), key_images=(*record.key_images, image))
