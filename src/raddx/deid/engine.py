"""The de-identification engine: PS3.15 Annex E applied to one dataset, at every depth.

:class:`Deidentifier` walks the dataset once. Each attribute gets the action that Table E.1-1,
the policy's options and overrides resolve to (``profile.resolve_actions``); private
attributes are removed (E.3.10: only Retain Safe Private keeps any); UIDs not listed in the
table are remapped too unless they are well known, so no instance UID survives anywhere;
sequences are processed item by item. After the walk the object carries the attributes
E.1.1 requires of a de-identified instance (0012,0062/0063/0064 and 0028,0303) and, if asked,
is re-encoded in UTF-8.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from raddx import __version__
from raddx.deid.clean import Scrubber, date_spellings, name_tokens
from raddx.deid.dates import DateShifter, patient_offset_days
from raddx.deid.dummies import dummy_value
from raddx.deid.keys import ProjectKey
from raddx.deid.policy import Policy
from raddx.deid.profile import (
    Action,
    DeidentificationOption,
    Profile,
    ResolvedActions,
    load_profile,
    resolve_actions,
)
from raddx.deid.uids import UIDMapper
from raddx.errors import InvalidInput

__all__ = ["ActionRecord", "Deidentifier"]

_TEXT_VRS = frozenset({"LO", "LT", "SH", "ST", "UT", "UC"})
_STRING_VRS = _TEXT_VRS | {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "PN", "TM", "UI", "UR"}
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
#: Inside a dummied or cleaned sequence (ContentSequence D in the Basic profile), coded
#: concepts are not identifying and an SR without them is not an SR: keep them.
_CODE_TAGS = frozenset(
    {
        0x00080100,  # CodeValue
        0x00080102,  # CodingSchemeDesignator
        0x00080103,  # CodingSchemeVersion
        0x00080104,  # CodeMeaning
        0x00080105,  # MappingResource
        0x00080119,  # LongCodeValue
        0x00080120,  # URNCodeValue
        0x0040A040,  # ValueType
        0x0040A010,  # RelationshipType
        0x0040A050,  # ContinuityOfContent
        0x004008EA,  # MeasurementUnitsCodeSequence items are codes anyway
    }
)
_SPECIFIC_CHARACTER_SET = 0x00080005
#: VRs that can carry a name, ID or date (the others are never decoded to look for tokens).
_TOKEN_VRS = frozenset({"PN", "DA", "DT", "LO", "SH", "AE", "SQ"})
#: Unlisted attributes of these VRs are kept as read without decoding: they hold neither text
#: (nothing to re-encode in UTF-8) nor UIDs nor items.
_PASSIVE_VRS = frozenset(
    {"AT", "DS", "FD", "FL", "IS", "OB", "OD", "OF", "OL", "OV", "OW", "SL", "SS", "SV", "UL",
     "US", "UV", "US or SS", "OB or OW", "US or OW", "US or SS or OW", "AS", "CS", "TM", "DA"}
)  # fmt: skip
_FILE_META_KEPT = frozenset(
    {0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013}
)
_DATE_OPTIONS = {
    DeidentificationOption.RETAIN_LONGITUDINAL_FULL_DATES: "UNMODIFIED",
    DeidentificationOption.RETAIN_LONGITUDINAL_MODIFIED_DATES: "MODIFIED",
}
_CLEANING_OPTIONS = {
    DeidentificationOption.CLEAN_DESCRIPTORS,
    DeidentificationOption.CLEAN_STRUCTURED_CONTENT,
    DeidentificationOption.CLEAN_GRAPHICS,
}


class _Mode(Enum):
    """How unlisted text is treated inside a sequence: as is, dummied (D) or cleaned (C)."""

    NORMAL = "normal"
    DUMMY = "dummy"
    CLEAN = "clean"


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One applied action, without the value (safe to log and to print for ``--what-if``)."""

    path: str  #: e.g. ``(0040,A730)[0].(0040,A160)``
    keyword: str
    action: str  #: the simple action applied (``X``, ``Z``, ``D``, ``C``, ``U``, ``P``)

    def __str__(self) -> str:
        return f"{self.path} {self.keyword or '(private)'}: {self.action}"


class _Run:
    """The state of one dataset's de-identification (patient pseudonym, offset, tokens)."""

    def __init__(
        self,
        engine: Deidentifier,
        ds: Dataset,
        log: Callable[[ActionRecord], None] | None,
    ) -> None:
        self.engine = engine
        self.log = log
        identity = f"{ds.get('IssuerOfPatientID', '')}\0{ds.get('PatientID', '')}"
        if not ds.get("PatientID"):
            identity += f"\0{ds.get('PatientName', '')}\0{ds.get('PatientBirthDate', '')}"
        digest = engine.key.digest("patient", identity)
        self.pseudonym = "RDX" + base64.b32encode(digest[:10]).decode("ascii")
        self.shifter: DateShifter | None = None
        if DeidentificationOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in engine.policy.options:
            shift = engine.policy.date_shift
            self.shifter = DateShifter(
                patient_offset_days(
                    engine.key, identity, min_days=shift.min_days, max_days=shift.max_days
                )
            )
        self.scrubber = _scrubber(frozenset(engine.phi_tokens(ds))) if engine.cleans_text else None

    def record(self, path: str, elem: DataElement | str, action: Action | str) -> None:
        if self.log is not None:
            keyword = elem if isinstance(elem, str) else elem.keyword
            self.log(ActionRecord(path, keyword, str(action)))


class Deidentifier:
    """Apply one :class:`Policy` with one :class:`ProjectKey` (PS3.15 E.1.1).

    Parameters
    ----------
    policy : Policy
        Options, overrides and output settings.
    key : ProjectKey
        Drives every replacement; the same key gives the same output.
    profile : Profile, optional
        Table E.1-1; the vendored edition by default.

    Notes
    -----
    Thread-compatible: one instance per thread or process (the UID cache is not locked).
    """

    def __init__(self, policy: Policy, key: ProjectKey, profile: Profile | None = None) -> None:
        self.policy = policy
        self.key = key
        self.profile = profile or load_profile()
        self.actions: ResolvedActions = resolve_actions(
            self.profile, policy.options, policy.override_tags()
        )
        self.uids = UIDMapper(key)
        self.cleans_text = bool(_CLEANING_OPTIONS & set(policy.options)) or any(
            a == Action.C for a in policy.overrides.values()
        )
        self._keeps_dates = DeidentificationOption.RETAIN_LONGITUDINAL_FULL_DATES in set(
            policy.options
        )

    # -- PHI tokens ---------------------------------------------------------------------------

    def phi_tokens(self, ds: Dataset, *, names: bool = True, dates: bool = True) -> set[str]:
        """Values this policy removes or replaces in ``ds``, as tokens for Clean Descriptors
        and for the leak checker: all person names (every group) and removed IDs and short
        texts (``names``), and the dates in their usual spellings unless the policy keeps
        full dates (``dates``)."""
        tokens: set[str] = set()
        self._collect(ds, tokens, names, dates and not self._keeps_dates)
        return tokens

    def _collect(self, ds: Dataset, tokens: set[str], names: bool, dates: bool) -> None:
        for tag in list(ds.keys()):
            if tag.is_private or _raw_vr(ds, tag) not in _TOKEN_VRS:
                continue  # not decoded: numbers and pixel data hold no name
            elem = ds[tag]
            if elem.VR == "SQ":
                for item in elem.value:
                    self._collect(item, tokens, names, dates)
                continue
            if elem.value is None or elem.value == "":
                continue
            values = elem.value if isinstance(elem.value, MultiValue) else [elem.value]
            if elem.VR == "PN" and names:
                for value in values:
                    tokens |= name_tokens(str(value))
            elif elem.VR in ("DA", "DT"):
                if dates:
                    for value in values:
                        tokens |= date_spellings(str(value))
            elif elem.VR in ("LO", "SH", "AE") and names:
                action = self.actions.get(elem.tag)
                if action not in (None, Action.K, Action.U, Action.C):
                    tokens.update(str(v).strip() for v in values if str(v).strip())

    # -- the walk -----------------------------------------------------------------------------

    def deidentify(
        self, ds: Dataset, *, log: Callable[[ActionRecord], None] | None = None
    ) -> Dataset:
        """De-identify ``ds`` in place (and its ``file_meta``) and return it.

        Parameters
        ----------
        ds : Dataset
            Read with :func:`pydicom.dcmread`; values are decoded with its character set.
        log : callable, optional
            Called with an :class:`ActionRecord` for every action taken (no values).

        Returns
        -------
        Dataset
            ``ds``, de-identified.

        Raises
        ------
        InvalidInput
            Text holds ISO 2022 escape sequences the declared character set does not allow.
        Exception
            Whatever pydicom raises for an element it cannot decode (corrupt input); the
            dataset is then half-processed and must not be written.
        """
        run = _Run(self, ds, log)
        self._walk(ds, run, _Mode.NORMAL, "")
        self._add_required(ds)
        self._file_meta(ds)
        if self.policy.output_charset == "ISO_IR 192":
            _to_utf8(ds)
        return ds

    def _walk(self, ds: Dataset, run: _Run, mode: _Mode, prefix: str) -> None:
        for tag in list(ds.keys()):
            path = f"{prefix}({tag.group:04X},{tag.element:04X})"
            if tag.is_private:
                del ds[tag]
                run.record(path, "", Action.X)
                continue
            if tag == _SPECIFIC_CHARACTER_SET:
                continue
            action = self.actions.get(tag)
            if action is None and mode is _Mode.NORMAL and _raw_vr(ds, tag) in _PASSIVE_VRS:
                continue  # kept as read, never decoded: the fast path for pixel data
            elem = ds[tag]  # converts the raw element: decodes with the object's charset
            if elem.VR in _TEXT_VRS | {"PN"} and "\x1b" in str(elem.value or ""):
                # pydicom removes the escapes of a declared ISO 2022 set while decoding; one
                # left over means the bytes are in a set the object does not declare. Writing
                # it back would leave orphan escape sequences, and the scrubber cannot see the
                # text it encodes (PS3.5 6.1.2.5.3).
                raise InvalidInput(
                    f"wrong SpecificCharacterSet: {path} holds ISO 2022 escape sequences "
                    f"that {ds.get('SpecificCharacterSet', 'the default repertoire')!s} "
                    "does not allow"
                )
            if action is None:
                action = self._unlisted(elem, mode)
            self._apply(ds, elem, action, run, mode, path)

    def _unlisted(self, elem: DataElement, mode: _Mode) -> Action:
        """Not in Table E.1-1: kept, except UIDs (remapped unless well known) and, inside a
        dummied or cleaned sequence, the text that is not a coded concept."""
        if elem.VR == "UI":
            return Action.U
        if mode is _Mode.NORMAL or elem.tag in _CODE_TAGS:
            return Action.K
        if elem.VR in _TEXT_VRS | {"PN", "DA", "DT"}:
            return Action.D if mode is _Mode.DUMMY else Action.C
        return Action.K

    def _apply(
        self, ds: Dataset, elem: DataElement, action: Action, run: _Run, mode: _Mode, path: str
    ) -> None:
        vr = elem.VR
        if vr == "SQ":
            self._apply_sequence(ds, elem, action, run, mode, path)
            return
        if action is Action.K:
            return
        if action is Action.X:
            del ds[elem.tag]
        elif action is Action.Z:
            elem.value = "" if vr in _STRING_VRS else (b"" if vr in _BINARY_VRS else None)
        elif action is Action.U or vr == "UI":
            changed = _map_values(elem, self.uids.map)
            if not changed:
                return
            action = Action.U
        elif action is Action.PSEUDONYM and vr in ("PN", "LO", "SH"):
            elem.value = run.pseudonym
        elif action is Action.C:
            action = self._clean(ds, elem, run)
        else:  # D, or a pseudonym on a VR that cannot hold one
            elem.value = dummy_value(vr)
            action = Action.D
        run.record(path, elem, action)

    def _apply_sequence(
        self, ds: Dataset, elem: DataElement, action: Action, run: _Run, mode: _Mode, path: str
    ) -> None:
        if action is Action.X:
            del ds[elem.tag]
            run.record(path, elem, action)
            return
        if action is Action.Z:
            elem.value = Sequence()
            run.record(path, elem, action)
            return
        inner = {Action.D: _Mode.DUMMY, Action.C: _Mode.CLEAN}.get(action, mode)
        if inner is not mode:
            run.record(path, elem, action)
        for index, item in enumerate(elem.value):
            self._walk(item, run, inner, f"{path}[{index}].")

    def _clean(self, ds: Dataset, elem: DataElement, run: _Run) -> Action | str:
        """Action C by VR: shift dates, scrub text, replace names and AE titles."""
        vr = elem.VR
        if vr in ("DA", "DT"):
            if run.shifter is None:
                elem.value = ""
                return Action.Z
            shift = run.shifter.shift_da if vr == "DA" else run.shifter.shift_dt
            values = elem.value if isinstance(elem.value, MultiValue) else [elem.value]
            shifted = [shift(str(v)) for v in values if str(v)]
            if any(v is None for v in shifted):
                elem.value = ""  # a value we cannot parse is removed, never guessed at
                return Action.Z
            elem.value = shifted if len(shifted) > 1 else (shifted[0] if shifted else "")
            return "C (date shifted)"
        if vr == "TM":
            return "C (time kept)"  # whole-day shifts leave times valid and unidentifying
        if vr in _TEXT_VRS:
            scrubber = run.scrubber or Scrubber(())
            _map_values(elem, scrubber.clean)
            return "C (text cleaned)"
        if vr in _BINARY_VRS:
            del ds[elem.tag]  # overlay/curve data: cleaning by removal
            return Action.X
        if vr in ("PN", "AE", "LO", "SH", "CS"):
            elem.value = dummy_value(vr)
            return Action.D
        return Action.K

    # -- what every de-identified instance carries ----------------------------------------------

    def _add_required(self, ds: Dataset) -> None:
        """PS3.15 E.1.1 items 5–6 and PS3.3 C.7.1.1 / C.7.6.1: declare what was done."""
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = [
            f"raddx {__version__}",
            f"PS3.15 {self.profile.edition} Table E.1-1",
            f"policy {self.policy.name}",
        ]
        codes = [self.profile_code(), *[o.value for o in self.policy.options]]
        items = []
        for value in codes:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = self.profile.code_meanings[value]
            items.append(item)
        ds.DeidentificationMethodCodeSequence = items
        status = "REMOVED"
        for option, value in _DATE_OPTIONS.items():
            if option in self.policy.options:
                status = value
        ds.LongitudinalTemporalInformationModified = status

    @staticmethod
    def profile_code() -> str:
        """CID 7050 code of the Basic profile."""
        return "113100"

    def _file_meta(self, ds: Dataset) -> None:
        meta = getattr(ds, "file_meta", None)
        if meta is None:
            return
        for tag in list(meta.keys()):
            if tag not in _FILE_META_KEPT:
                del meta[tag]
        if "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = self.uids.map(meta.MediaStorageSOPInstanceUID)


def _raw_vr(ds: Dataset, tag: int) -> str:
    """The VR of ``ds[tag]`` without decoding its value (implicit VR: from the dictionary)."""
    elem = ds.get_item(tag)
    vr = elem.VR if elem is not None else None
    if vr is None:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
    return vr


@functools.lru_cache(maxsize=64)
def _scrubber(tokens: frozenset[str]) -> Scrubber:
    """Objects of one patient and study share their tokens: compile their pattern once."""
    return Scrubber(tokens)


def _map_values(elem: DataElement, function: Callable[[str], str]) -> bool:
    """Apply ``function`` to each value of a string element; True if any value changed."""
    value: Any = elem.value
    if value is None or value == "":
        return False
    if isinstance(value, MultiValue | list):
        new = [function(str(v)) for v in value]
        changed = new != [str(v) for v in value]
    else:
        new = function(str(value))
        changed = new != str(value)
    if changed:
        elem.value = new
    return changed


def _to_utf8(ds: Dataset) -> None:
    """Declare ISO_IR 192 wherever a character set is declared (every value is decoded by
    now, so pydicom encodes all text in UTF-8 on write: no ISO 2022 escapes are left)."""
    if "SpecificCharacterSet" in ds or _has_non_ascii(ds):
        ds.SpecificCharacterSet = "ISO_IR 192"
    _nested_utf8(ds)


def _nested_utf8(ds: Dataset) -> None:
    for item in _items(ds):
        if "SpecificCharacterSet" in item:
            item.SpecificCharacterSet = "ISO_IR 192"
        _nested_utf8(item)


def _items(ds: Dataset) -> list[Dataset]:
    return [item for tag in list(ds.keys()) if _raw_vr(ds, tag) == "SQ" for item in ds[tag].value]


def _has_non_ascii(ds: Dataset) -> bool:
    for tag in list(ds.keys()):
        vr = _raw_vr(ds, tag)
        if vr == "SQ":
            if any(_has_non_ascii(item) for item in ds[tag].value):
                return True
        elif vr in _TEXT_VRS | {"PN"}:
            value = ds[tag].value
            if value is not None and not str(value).isascii():
                return True
    return False
