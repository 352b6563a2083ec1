"""Leak checker: did any PHI token of the input survive into the output?

Tokens are taken from the input the way the engine sees them (``Deidentifier.phi_tokens``:
every person-name group, removed IDs and short texts, dates in their usual spellings) and
searched in every decoded value of every output object at every depth, private and file
meta included, and in the raw bytes (UTF-8, and the JIS X 0208 form that ISO 2022 IR 87
uses, which catches undecoded UN/OB values and orphaned escape sequences). Names and IDs are
checked corpus-wide; dates only against the output made from the same input (paired through
the manifest), since a shifted date may by chance equal another patient's real one.
The checker also checks what every de-identified object must carry (PS3.15 E.1.1).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from raddx.deid.clean import Scrubber, bounded_bytes
from raddx.deid.engine import Deidentifier
from raddx.deid.inputs import Source, iter_files, read_source
from raddx.deid.keys import ProjectKey
from raddx.deid.policy import Policy
from raddx.deid.run import MANIFEST_NAME

__all__ = ["Finding", "VerifyReport", "verify_paths"]

_MIN_ASCII = 3  # "M", "CT", "01" occur everywhere; shorter tokens cannot be checked
_MIN_OTHER = 2
_REQUIRED = (
    "PatientIdentityRemoved",
    "DeidentificationMethod",
    "DeidentificationMethodCodeSequence",
    "LongitudinalTemporalInformationModified",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """A leak or a missing required attribute in one output file."""

    output: Path
    where: str  #: attribute path, ``raw bytes`` or ``required``
    detail: str  #: masked token or what is missing

    def __str__(self) -> str:
        return f"{self.output}: {self.where}: {self.detail}"


@dataclass
class VerifyReport:
    inputs: int = 0
    outputs: int = 0
    tokens: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings and self.outputs > 0


def _mask(token: str) -> str:
    return token[0] + "…" + f" ({len(token)} chars)"


def _usable(token: str) -> bool:
    return len(token) >= (_MIN_ASCII if token.isascii() else _MIN_OTHER)


def _read(path: Source) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(io.BytesIO(read_source(path)))
    except Exception:
        return None


def _byte_forms(token: str) -> set[bytes]:
    forms = {token.encode("utf-8")}
    if not token.isascii():
        with contextlib.suppress(UnicodeEncodeError):  # not in JIS X 0208: UTF-8 only
            forms.add(token.encode("iso2022_jp").removesuffix(b"\x1b(B"))  # ESC $ B + JIS
    return forms


def _decoded_values(ds: Dataset, prefix: str = "") -> Iterable[tuple[str, str]]:
    for elem in ds:
        path = f"{prefix}({elem.tag.group:04X},{elem.tag.element:04X})"
        if elem.VR == "SQ":
            for index, item in enumerate(elem.value):
                yield from _decoded_values(item, f"{path}[{index}].")
        elif isinstance(elem.value, bytes):
            continue  # covered by the raw-byte search
        elif elem.value is not None:
            yield path, str(elem.value)


def _check_file(
    path: Path, scrubber: Scrubber, raw_pattern: re.Pattern[bytes] | None
) -> list[Finding]:
    findings = []
    ds = _read(path)
    if ds is None:
        return [Finding(path, "read", "not readable as DICOM")]
    datasets: list[Dataset] = [ds.file_meta, ds] if hasattr(ds, "file_meta") else [ds]
    for part in datasets:
        for where, text in _decoded_values(part):
            findings += [Finding(path, where, _mask(t)) for t in scrubber.find(text)]
    if raw_pattern is not None:
        found = {m.group(0) for m in raw_pattern.finditer(path.read_bytes())}
        findings += [Finding(path, "raw bytes", _mask(f.decode("latin-1"))) for f in found]
    for keyword in _REQUIRED:
        if keyword not in ds:
            findings.append(Finding(path, "required", f"{keyword} missing"))
    if ds.get("PatientIdentityRemoved") not in (None, "YES"):
        findings.append(Finding(path, "required", "PatientIdentityRemoved is not YES"))
    meta_uid = ds.file_meta.get("MediaStorageSOPInstanceUID") if hasattr(ds, "file_meta") else None
    if meta_uid is not None and meta_uid != ds.get("SOPInstanceUID"):
        findings.append(Finding(path, "required", "MediaStorageSOPInstanceUID ≠ SOPInstanceUID"))
    return findings


def _raw_pattern(tokens: set[str]) -> re.Pattern[bytes] | None:
    parts = [
        bounded_bytes(token, form)
        for token in sorted(tokens, key=len, reverse=True)
        for form in _byte_forms(token)
    ]
    return re.compile(b"|".join(parts), re.IGNORECASE) if parts else None


def verify_paths(inputs: Iterable[Path], output: Path, *, policy: Policy) -> VerifyReport:
    """Check every DICOM file under ``output`` against the PHI of the files under ``inputs``.

    Parameters
    ----------
    inputs : iterable of Path
        The original files or folders.
    output : Path
        The de-identified folder (with the run's ``manifest.json`` if there is one).
    policy : Policy
        The policy the output was made with: what it keeps (full dates, say) is not a leak.

    Returns
    -------
    VerifyReport
        ``ok`` when at least one output was checked and nothing was found.
    """
    engine = Deidentifier(policy, ProjectKey.random())
    report = VerifyReport()
    names: set[str] = set()
    dates_by_hash: dict[str, set[str]] = {}
    all_dates: set[str] = set()
    for path in iter_files(inputs):
        ds = _read(path)
        if ds is None:
            continue
        report.inputs += 1
        with warnings.catch_warnings():
            # Values are decoded here: an input in an undeclared character set (which the run
            # quarantines) warns about it, and is still searched as well as it decodes.
            warnings.simplefilter("ignore")
            names |= {t for t in engine.phi_tokens(ds, dates=False) if _usable(t)}
            dates = {t for t in engine.phi_tokens(ds, names=False) if len(t) >= 6}
        dates_by_hash[hashlib.sha256(read_source(path)).hexdigest()] = dates
        all_dates |= dates
    paired: dict[Path, set[str]] = {}
    manifest = output / MANIFEST_NAME
    if manifest.exists():
        for entry in json.loads(manifest.read_text(encoding="utf-8")).get("files", []):
            paired[output / entry["output"]] = dates_by_hash.get(entry["input_sha256"], all_dates)
    report.tokens = len(names) + len(all_dates)
    patterns: dict[frozenset[str], tuple[Scrubber, re.Pattern[bytes] | None]] = {}
    written = (p for p in iter_files([output]) if isinstance(p, Path) and p.suffix == ".dcm")
    for path in sorted(written):
        tokens = frozenset(names | paired.get(path, all_dates))
        if tokens not in patterns:  # objects of one study share their dates: compile once
            patterns[tokens] = (Scrubber(tokens), _raw_pattern(set(tokens)))
        report.outputs += 1
        report.findings += _check_file(path, *patterns[tokens])
    return report
