"""raddx.web.dicomweb._dataset_json: the direct QIDO-RS answer encoder gives exactly what
pydicom's ``to_json_dict`` gives for the same answer (the encoder replaced it for speed)."""

from __future__ import annotations

from typing import Any

import pytest
from pydicom.dataset import Dataset

from dicom_factory import JAPANESE_NAME
from raddx.web.dicomweb._dataset_json import _fill, answer_json


def _via_pydicom(answer: dict[str, Any]) -> dict[str, Any]:
    ds = Dataset()
    _fill(ds, {k: v for k, v in answer.items() if k != "QueryRetrieveLevel"})
    return ds.to_json_dict()


ANSWERS: list[dict[str, Any]] = [
    {  # what a study search answers (bench data), keys in the engine's order
        "QueryRetrieveLevel": "STUDY",
        "PatientName": "FAM000000^GIVEN",
        "StudyDate": "20000101",
        "ModalitiesInStudy": ["OT", "CT"],
        "ReferringPhysicianName": None,
        "TimezoneOffsetFromUTC": None,
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.1",
        "NumberOfStudyRelatedInstances": 1,
        "IssuerOfPatientID": "",
        "PatientSize": None,
        "ProcedureCodeSequence": [],
        "InstanceAvailability": None,
        "RetrieveURL": "http://x/dicom-web/studies/1.2.3",
    },
    {"PatientName": JAPANESE_NAME},  # three groups
    {"PatientName": "=山田^太郎"},  # ideographic only: Alphabetic is still there, empty
    {"PatientName": "Doe^John\\Roe^Jane"},  # two names
    {"ModalitiesInStudy": "CT\\MR"},  # multi-valued text given as one string
    {"StudyDescription": "a \\ backslash"},  # LO: a backslash separates values
    {"PatientComments": "LT keeps \\ as text"},
    {"PatientSize": "1.75", "PatientWeight": 70, "PatientAge": "040Y"},
    {"NumberOfStudyRelatedSeries": "3", "InstanceNumber": " 7"},
    {"PixelSpacing": ["0.5", "0.25"], "SliceThickness": 1.25},
    {"Rows": 512, "Columns": 256},
    {"PixelSpacing": "1e-1\\2.5"},  # DS in exponent form, multi-valued as one string
    {
        "ProcedureCodeSequence": [
            {"CodeValue": "RP1", "CodingSchemeDesignator": "JJ1017", "CodeMeaning": None},
            {"CodeValue": "RP2", "CodingSchemeDesignator": "99LOCAL", "CodeMeaning": "x"},
        ]
    },
    {"ReferencedSOPSequence": None},
    {"RedPaletteColorLookupTableData": b"\x01\x02"},  # binary: via pydicom
    {"FrameIncrementPointer": 0x00181063},  # AT: via pydicom
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_answer_json_is_what_pydicom_gives(answer: dict[str, Any]) -> None:
    mine = answer_json(answer)
    assert mine == _via_pydicom(answer)
    assert list(mine) == sorted(mine)  # tag order, as pydicom's
