"""Identity coercion for referrals (患者紹介): the receiving hospital's PatientID, the sender's
kept in Original Attributes Sequence (PS3.3 C.12.1.1.9).

A referral is not de-identification: the images go from one care provider to another and
everything stays, except that the patient is filed under the local ID (JSRT and seven
societies, 「患者紹介等に付随する医用画像についての合意事項」). The original PatientID and
IssuerOfPatientID are recorded in an Original Attributes Sequence item with reason COERCE, so
the change can be traced and undone.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from raddx import __version__
from raddx.errors import InvalidInput

__all__ = ["IdentityMap", "coerce_identity"]

_COLUMNS = ("patient_id", "local_patient_id")


@dataclass(frozen=True)
class IdentityMap:
    """Sender's (IssuerOfPatientID, PatientID) → local PatientID, read from a CSV file.

    Columns: ``patient_id``, ``local_patient_id`` and, optionally, ``issuer_of_patient_id``
    (empty or absent: the row matches that PatientID under any issuer).
    """

    entries: dict[tuple[str, str], str]

    @classmethod
    def from_csv(cls, path: Path) -> IdentityMap:
        """Raises ``ValueError`` naming the file and the row for anything malformed."""
        try:
            with path.open(encoding="utf-8-sig", newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as exc:
            raise ValueError(f"cannot read the ID map {path}: {exc.strerror}") from None
        entries: dict[tuple[str, str], str] = {}
        for number, row in enumerate(rows, start=2):
            if any(not (row.get(c) or "").strip() for c in _COLUMNS):
                raise ValueError(f"{path}:{number}: needs {' and '.join(_COLUMNS)}")
            local = row["local_patient_id"].strip()
            if len(local) > 64 or "\\" in local:
                raise ValueError(f"{path}:{number}: local_patient_id is not a valid LO value")
            key = ((row.get("issuer_of_patient_id") or "").strip(), row["patient_id"].strip())
            if entries.get(key, local) != local:
                raise ValueError(f"{path}:{number}: patient {key[1]!r} mapped twice")
            entries[key] = local
        return cls(entries)

    def local_id(self, issuer: str, patient_id: str) -> str | None:
        """The local PatientID, matching the issuer first, then any issuer."""
        return self.entries.get((issuer, patient_id)) or self.entries.get(("", patient_id))


def coerce_identity(
    ds: Dataset, *, id_map: IdentityMap, issuer: str, now: dt.datetime | None = None
) -> Dataset:
    """Replace PatientID and IssuerOfPatientID in place; keep the old ones (PS3.3 C.12.1.1.9).

    Raises
    ------
    InvalidInput
        The object's patient is not in the map (it goes to quarantine, not out unchanged).
    """
    old_id = str(ds.get("PatientID", "") or "")
    old_issuer = str(ds.get("IssuerOfPatientID", "") or "")
    local = id_map.local_id(old_issuer, old_id)
    if local is None:
        raise InvalidInput("coerce: this patient is not in the ID map")
    modified = Dataset()
    modified.PatientID = old_id
    modified.IssuerOfPatientID = old_issuer
    item = Dataset()
    item.ModifiedAttributesSequence = Sequence([modified])
    item.AttributeModificationDateTime = (now or dt.datetime.now(dt.UTC)).strftime(
        "%Y%m%d%H%M%S.%f+0000"
    )
    item.ModifyingSystem = f"raddx {__version__}"[:64]
    item.SourceOfPreviousValues = old_issuer
    item.ReasonForTheAttributeModification = "COERCE"
    original = list(ds.get("OriginalAttributesSequence") or [])
    ds.OriginalAttributesSequence = Sequence([*original, item])
    ds.PatientID = local
    ds.IssuerOfPatientID = issuer
    return ds
