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

import copy
import functools
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from pydicom.charset import convert_encodings
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from raddx import __version__
from raddx.deid._raw import value_or
from raddx.deid.birth import bucket_age, generalise_birth_date
from raddx.deid.clean import Scrubber, date_spellings, name_tokens
from raddx.deid.coerce import IdentityMap, coerce_identity
from raddx.deid.dates import DateShifter
from raddx.deid.dummies import dummy_value
from raddx.deid.iod import attribute_types, resolve_composite
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
from raddx.deid.registry import KeyedRegistry, PatientRegistry
from raddx.deid.safe_private import SafePrivateEntry, SafePrivateList, load_safe_private
from raddx.deid.uids import UIDMapper
from raddx.deid.vocabulary import filter_description, load_vocabulary
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
_TEXT_OR_PN = _TEXT_VRS | {"PN"}
_ESC = b"\x1b"
_UTF8 = "ISO_IR 192"
#: PS3.5 Table 7.1-1: explicit VR elements with a 12-byte header (reserved + 32-bit length).
_LONG_HEADER_VRS = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
#: VRs that can carry a name, ID or date (the others are never decoded to look for tokens).
_TOKEN_VRS = frozenset({"PN", "DA", "DT", "LO", "SH", "AE", "SQ"})
#: Table actions under which an LO, SH or AE value is not a token (kept, remapped, cleaned).
_NOT_TOKENS = (None, Action.K, Action.U, Action.C)
#: Unlisted attributes of these VRs are kept as read without decoding: they hold neither text
#: (nothing to re-encode in UTF-8) nor UIDs nor items.
_PASSIVE_VRS = frozenset(
    {"AT", "DS", "FD", "FL", "IS", "OB", "OD", "OF", "OL", "OV", "OW", "SL", "SS", "SV", "UL",
     "US", "UV", "US or SS", "OB or OW", "US or OW", "US or SS or OW", "AS", "CS", "TM", "DA"}
)  # fmt: skip
_FILE_META_KEPT = frozenset(
    {0x00020001, 0x00020002, 0x00020003, 0x00020010, 0x00020012, 0x00020013}
)
#: The dates an age is measured at: Study, Series, Acquisition, Content Date (first present).
_AGE_REFERENCE_DATES = (0x00080020, 0x00080021, 0x00080022, 0x00080023)
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
        self.top = ds
        # As ds.get(keyword, "") gives them: the identity keys the pseudonym and the offset.
        patient_id = value_or(ds, 0x00100020)
        identity = f"{value_or(ds, 0x00100021)}\0{patient_id}"
        if not patient_id:
            identity += f"\0{ds.get('PatientName', '')}\0{ds.get('PatientBirthDate', '')}"
        # Read decoded or not: the runner's checks may have decoded it (they did, and runs
        # then resolved every composite action without the IOD, unlike the engine alone).
        sop_class = (_top_text(ds, 0x00080016) or "").strip()
        #: Composite actions of the top level, resolved by the Types of the object's IOD.
        self.top_actions = engine.top_actions(sop_class)
        # Looked up only when used: a database registry audits every lookup.
        patient = engine.registry.lookup(identity) if engine.needs_patient else None
        self.pseudonym = patient.pseudonym if patient is not None else ""
        self.shifter: DateShifter | None = None
        #: The days this object's dates move by (None: dates are not shifted).
        self.date_offset_days: int | None = None
        if patient is not None and engine.shifts_dates:
            self.shifter = DateShifter(patient.date_offset_days)
            self.date_offset_days = patient.date_offset_days
        #: The object's PHI tokens for Clean Descriptors, gathered by the walk from the values
        #: as it meets them (the same set as :meth:`Deidentifier.phi_tokens`); None when the
        #: policy cleans no text.
        self.tokens: set[str] | None = set() if engine.cleans_text else None
        #: Whether the walk is where :meth:`Deidentifier.phi_tokens` would look (not inside a
        #: private attribute, nor a sequence that was not encoded as one).
        self.gathering = engine.cleans_text
        #: The object is in UTF-8 alone: its names decode without pydicom (``_gather``).
        self.utf8 = engine.cleans_text and value_or(ds, _SPECIFIC_CHARACTER_SET) == _UTF8
        #: Text to clean once every token is known (a description comes before the names):
        #: (dataset, raw element and its ASCII values) or (dataset, decoded element, None).
        self.pending: list[tuple[Dataset, RawDataElement | DataElement, list[str] | None]] = []
        #: Built from ``tokens`` after the walk.
        self.scrubber: Scrubber | None = None
        #: Some text is not ASCII (it was decoded: the writer encodes it in the output set).
        self.non_ascii = False
        #: Some sequence item declares its own Specific Character Set.
        self.item_charsets = False
        #: The Clean Descriptors vocabulary of this object's Modality (policy opt-in).
        self.vocabulary: frozenset[str] | None = None
        if engine.policy.descriptor_vocabularies:
            vocabularies = engine.policy.descriptor_vocabularies
            name = vocabularies.get(_top_text(ds, 0x00080060) or "", vocabularies.get("*"))
            self.vocabulary = load_vocabulary(name) if name else None
        #: (group, creator, element byte or None for a whole SAFE block) → action, from the
        #: input's Private Data Element Characteristics Sequence (policy opt-in).
        self.declared_private: dict[tuple[int, str, int | None], Action] = (
            _declared_private(ds) if engine.policy.honour_private_characteristics else {}
        )

    def record(self, path: str, tag: int, action: Action | str) -> None:
        if self.log is not None:
            keyword = "" if (tag >> 16) & 1 else (keyword_for_tag(tag) or "")
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
    registry : PatientRegistry, optional
        Where patient pseudonyms and date offsets come from; keyed HMACs of ``key`` by
        default (``raddx.deid.registry``).

    Notes
    -----
    Thread-compatible: one instance per thread or process (the UID cache is not locked).
    """

    def __init__(
        self,
        policy: Policy,
        key: ProjectKey,
        profile: Profile | None = None,
        *,
        registry: PatientRegistry | None = None,
    ) -> None:
        self.policy = policy
        self.key = key
        shift = policy.date_shift
        self.registry: PatientRegistry = registry or KeyedRegistry(
            key, min_days=shift.min_days, max_days=shift.max_days
        )
        self.shifts_dates = (
            DeidentificationOption.RETAIN_LONGITUDINAL_MODIFIED_DATES in policy.options
        )
        self.needs_patient = self.shifts_dates or Action.PSEUDONYM in policy.overrides.values()
        self.profile = profile or load_profile()
        self.actions: ResolvedActions = resolve_actions(
            self.profile, policy.options, policy.override_tags()
        )
        self.uids = UIDMapper(key)
        self._vocabulary_tags = policy.vocabulary_tags()
        self.cleans_text = bool(_CLEANING_OPTIONS & set(policy.options)) or any(
            a == Action.C for a in policy.overrides.values()
        )
        self._keeps_dates = DeidentificationOption.RETAIN_LONGITUDINAL_FULL_DATES in set(
            policy.options
        )
        self.safe_private: SafePrivateList | None = None
        if DeidentificationOption.RETAIN_SAFE_PRIVATE in set(policy.options):
            self.safe_private = load_safe_private().extended(
                SafePrivateEntry(
                    group=int(rule.group, 16),
                    creator=rule.creator,
                    element=int(rule.element[-2:], 16),
                    vr=rule.vr,
                    action=rule.action,
                )
                for rule in policy.safe_private
            )
        self.id_map = (
            IdentityMap.from_csv(policy.coerce.id_map) if policy.coerce is not None else None
        )
        # Table lookups memoised per tag: a miss in ``actions`` scans the repeating-group
        # rows, and most attributes of an object are misses.
        self._action_cache: dict[int, Action | None] = {}
        self._top_cache: dict[str, Mapping[int, Action]] = {}

    def close(self) -> None:
        """Release the registry's resources (a database registry's connections)."""
        self.registry.close()

    def top_actions(self, sop_class_uid: str) -> Mapping[int, Action]:
        """The composite actions of top-level attributes resolved for the IOD of
        ``sop_class_uid`` (PS3.15 E.1.1; ``raddx.deid.iod``); empty when the IOD is unknown,
        and the fallback of ``resolve_actions`` applies."""
        cached = self._top_cache.get(sop_class_uid)
        if cached is None:
            types = attribute_types(sop_class_uid)
            cached = {}
            if types is not None:
                cached = {
                    tag: resolve_composite(action, types.get(tag))
                    for tag, action in self.actions.composite.items()
                }
            self._top_cache[sop_class_uid] = cached
        return cached

    def action_for(self, tag: int) -> Action | None:
        """The resolved action for ``tag``, ``None`` if Table E.1-1 does not list it."""
        try:
            return self._action_cache[tag]
        except KeyError:
            action = self._action_cache[tag] = self.actions.get(tag)
            return action

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
            number = int(tag)  # see _walk
            if (number >> 16) & 1:
                continue  # private: removed, and its creator's VRs are unknown
            raw = ds.get_item(tag)
            vr = _vr_of(raw, number)
            if vr not in _TOKEN_VRS:
                continue  # not decoded: numbers and pixel data hold no name
            if vr in ("LO", "SH", "AE") and (
                not names or self.action_for(number) in (None, Action.K, Action.U, Action.C)
            ):
                continue  # kept or cleaned, never decoded here
            if (vr in ("DA", "DT") and not dates) or (vr == "PN" and not names):
                continue
            if vr == "SQ":
                for item in ds[tag].value:
                    self._collect(item, tokens, names, dates)
                continue
            values = _ascii_values(raw)
            if values is None:
                value = ds[tag].value
                if value is None or value == "":
                    continue
                multi = value if isinstance(value, MultiValue) else [value]
                values = [str(v) for v in multi]
            _add_tokens(tokens, vr, values)

    def _birth_date(self, ds: Dataset, run: _Run) -> str | None:
        """The generalised birth date of ``ds`` (read before the walk empties it)."""
        reference = next((v for t in _AGE_REFERENCE_DATES if (v := _top_text(ds, t))), None)
        return generalise_birth_date(
            _top_text(ds, 0x00100030),
            reference=reference,
            granularity=self.policy.birth_date,
            shifter=run.shifter,
            top=self.policy.age_top_code,
        )

    # -- the walk -----------------------------------------------------------------------------

    def deidentify(
        self,
        ds: Dataset,
        *,
        log: Callable[[ActionRecord], None] | None = None,
        on_offset: Callable[[int | None], None] | None = None,
    ) -> Dataset:
        """De-identify ``ds`` in place (and its ``file_meta``) and return it.

        Parameters
        ----------
        ds : Dataset
            Read with :func:`pydicom.dcmread`; values are decoded with its character set.
        log : callable, optional
            Called with an :class:`ActionRecord` for every action taken (no values).
        on_offset : callable, optional
            Called with the patient's date offset in days (None when dates are not shifted),
            for the correspondence table; no second registry lookup (each one is audited).

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
        self._deidentify(ds, log=log, on_offset=on_offset)
        return ds

    def _deidentify(
        self,
        ds: Dataset,
        *,
        log: Callable[[ActionRecord], None] | None = None,
        on_offset: Callable[[int | None], None] | None = None,
    ) -> _Run | None:
        """:meth:`deidentify`, returning the state of the run (None for a coerced object)."""
        if self.id_map is not None and self.policy.coerce is not None:
            coerce_identity(ds, id_map=self.id_map, issuer=self.policy.coerce.issuer_of_patient_id)
            if log is not None:
                log(ActionRecord("(0010,0020)", "PatientID", "coerced"))
            return None
        run = _Run(self, ds, log)
        if on_offset is not None:
            on_offset(run.date_offset_days)
        birth = self._birth_date(ds, run) if self.policy.birth_date != "remove" else None
        self._walk(ds, run, _Mode.NORMAL, "")
        if run.tokens is not None:
            self._clean_pending(run)
        if birth is not None:
            _set_top_text(ds, 0x00100030, "DA", birth)
            run.record("(0010,0030)", 0x00100030, f"generalised to {self.policy.birth_date}")
        if self.policy.age_top_code is not None:
            _top_code_age(ds, self.policy.age_top_code, run)
        if self.policy.age_bucket_years is not None:
            _bucket_age(ds, self.policy.age_bucket_years, run)
        _describe_private_blocks(ds, run)
        self._add_required(ds)
        self._file_meta(ds)
        if self.policy.output_charset == "ISO_IR 192":
            _to_utf8(ds, run)
        return run

    def _walk(self, ds: Dataset, run: _Run, mode: _Mode, prefix: str) -> None:
        # The hot loop. Simple actions on string values are done on the raw bytes (ASCII in
        # every character set we read when they hold no ESC, PS3.5 6.1.2.3), so most
        # attributes are neither decoded here nor re-encoded on write (research notes §6
        # item 15); text that needs its character set goes through pydicom.
        logging = run.log is not None
        top_actions = run.top_actions if ds is run.top else None
        for tag in list(ds.keys()):
            # pydicom calls get the BaseTag from keys() (found by identity in its dict); our
            # own tables get a plain int (BaseTag.__eq__ is Python code, ~20x slower).
            number = int(tag)
            path = f"{prefix}({number >> 16:04X},{number & 0xFFFF:04X})" if logging else prefix
            if (number >> 16) & 1:  # private (PS3.5 7.8)
                if self.safe_private is None or not self._safe_private(ds, tag, run, path):
                    del ds[tag]
                    run.record(path, number, Action.X)
                continue
            if number == _SPECIFIC_CHARACTER_SET:
                run.item_charsets = run.item_charsets or ds is not run.top
                continue
            raw = ds.get_item(tag)
            vr = _vr_of(raw, number)
            if run.gathering and vr in _TOKEN_VRS and vr != "SQ":
                raw = self._gather(ds, tag, number, raw, vr, run)
            action = self.action_for(number)
            if action is None:
                action = _unlisted(number, vr, mode)
            elif top_actions and number in top_actions:
                action = top_actions[number]
            if (
                vr != "SQ"
                and isinstance(raw, RawDataElement)
                and self._raw_apply(ds, raw, vr, action, run, path)
            ):
                continue
            elem = ds[tag]  # converts the raw element: decodes with the object's charset
            if elem.VR in _TEXT_OR_PN and not str(elem.value or "").isascii():
                run.non_ascii = True
            if elem.VR in _TEXT_OR_PN and "\x1b" in str(elem.value or ""):
                # pydicom removes the escapes of a declared ISO 2022 set while decoding; one
                # left over means the bytes are in a set the object does not declare. Writing
                # it back would leave orphan escape sequences, and the scrubber cannot see the
                # text it encodes (PS3.5 6.1.2.5.3).
                path = f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})"
                raise InvalidInput(
                    f"wrong SpecificCharacterSet: {path} holds ISO 2022 escape sequences "
                    f"that {ds.get('SpecificCharacterSet', 'the default repertoire')!s} "
                    "does not allow"
                )
            if run.gathering and elem.VR == "SQ" and vr != "SQ":
                # A sequence encoded as UN: phi_tokens does not look inside, nor does this.
                run.gathering = False
                try:
                    self._apply(ds, elem, action, run, mode, path)
                finally:
                    run.gathering = True
                continue
            self._apply(ds, elem, action, run, mode, path)
        if self.safe_private is not None:
            self._drop_unused_creators(ds, run, prefix)

    def _gather(
        self,
        ds: Dataset,
        tag: int,
        number: int,
        raw: DataElement | RawDataElement,
        vr: str,
        run: _Run,
    ) -> DataElement | RawDataElement:
        """Add the PHI tokens of one non-sequence element to ``run.tokens`` exactly as
        :meth:`phi_tokens` would, before its action changes it; returns the element (decoded
        when its text needed the character set, as ``phi_tokens`` leaves it)."""
        assert run.tokens is not None
        if vr in ("LO", "SH", "AE"):
            if self.action_for(number) in _NOT_TOKENS:
                return raw  # kept or cleaned, never decoded here
        elif vr != "PN" and self._keeps_dates:
            return raw
        values = _ascii_values(raw)
        if values is None and vr == "PN" and run.utf8 and ds is run.top:
            values = _utf8_values(raw)
        if values is None:
            raw = ds[tag]
            value = raw.value
            if value is None or value == "":
                return raw
            multi = value if isinstance(value, MultiValue) else [value]
            values = [str(v) for v in multi]
        _add_tokens(run.tokens, vr, values)
        return raw

    def _clean_pending(self, run: _Run) -> None:
        """Clean Descriptors on the text the walk set aside, now that every token is known."""
        assert run.tokens is not None
        scrubber = run.scrubber = _scrubber(frozenset(run.tokens))
        for ds, elem, values in run.pending:
            if values is None:
                self._clean_text(elem, run, scrubber)
                continue
            tag = int(elem.tag)
            new = [scrubber.clean(v) for v in values]
            if run.vocabulary is not None and tag in self._vocabulary_tags:
                new = [filter_description(v, run.vocabulary) for v in new]
            if not all(v.isascii() for v in new):
                self._clean_text(ds[tag], run, scrubber)  # as the decoded path does
            elif new != values:
                ds[tag] = _raw_strings(elem, _vr_of(elem, tag), new)

    def _clean_text(self, elem: DataElement, run: _Run, scrubber: Scrubber) -> None:
        _map_values(elem, scrubber.clean)
        if run.vocabulary is not None and int(elem.tag) in self._vocabulary_tags:
            vocabulary = run.vocabulary
            _map_values(elem, lambda v: filter_description(v, vocabulary))

    # -- Retain Safe Private (PS3.15 E.3.10) ----------------------------------------------------

    def _safe_private(self, ds: Dataset, tag: int, run: _Run, path: str) -> bool:
        """Keep (with its action applied) a private attribute of the allow-list; False if it
        must be removed. Private Creators are kept here and dropped after the walk if their
        block keeps nothing."""
        assert self.safe_private is not None
        group, element = tag >> 16, tag & 0xFFFF
        if 0x0010 <= element <= 0x00FF:
            return True
        creator = _private_creator(ds, group, element >> 8) if element >= 0x1000 else None
        entry = self.safe_private.lookup(group, creator, element) if creator else None
        if entry is None and creator and run.declared_private and ds is run.top:
            entry = _declared_entry(ds, tag, creator, run.declared_private)
        if entry is None:
            return False  # not on the list, or an orphan, or under another creator
        action = self._safe_private_action(entry)
        if action is Action.X:
            return False
        raw = ds.get_item(tag)
        if isinstance(raw, RawDataElement) and raw.VR in (None, "UN") and entry.vr != "UN":
            # Implicit VR or UN: the entry says what the bytes are. UN-encoded sequences
            # hold implicit VR little endian items (PS3.5 6.2.2).
            ds[tag] = raw._replace(
                VR=entry.vr, is_implicit_VR=raw.is_implicit_VR or entry.vr == "SQ"
            )
        elem = ds[tag]
        if entry.vr != elem.VR and "SQ" in (elem.VR, entry.vr):
            return False  # not what the entry describes: never keep what we cannot read
        gathering, run.gathering = run.gathering, False  # phi_tokens skips private data
        try:
            self._apply(ds, elem, action, run, _Mode.NORMAL, path)
        finally:
            run.gathering = gathering
        if action is Action.K:
            run.record(path, tag, "K (safe private)")
        return True

    def _safe_private_action(self, entry: SafePrivateEntry) -> Action:
        """K on a UID remaps it, on a date follows the date option (a private date is a date:
        removed under Basic, shifted with Modified Dates, PS3.15 E.3.6)."""
        if entry.action is not Action.K:
            return entry.action
        if entry.vr == "UI":
            return Action.U
        if entry.vr in ("DA", "DT"):
            if self._keeps_dates:
                return Action.K
            modified = DeidentificationOption.RETAIN_LONGITUDINAL_MODIFIED_DATES
            return Action.C if modified in self.policy.options else Action.X
        return Action.K

    @staticmethod
    def _drop_unused_creators(ds: Dataset, run: _Run, prefix: str) -> None:
        """Remove each Private Creator whose block kept no element (PS3.5 7.8.1)."""
        tags = list(ds.keys())  # not iterating ds itself: that would decode every value
        used = {(t >> 16, (t & 0xFFFF) >> 8) for t in tags if (t >> 16) & 1 and t & 0xFF00}
        for tag in tags:
            group, element = tag >> 16, tag & 0xFFFF
            if group & 1 and 0x0010 <= element <= 0x00FF and (group, element) not in used:
                del ds[tag]
                if run.log is not None:
                    run.record(f"{prefix}({group:04X},{element:04X})", tag, Action.X)

    def _raw_apply(
        self, ds: Dataset, raw: RawDataElement, vr: str, action: Action, run: _Run, path: str
    ) -> bool:
        """Apply ``action`` to a raw element without decoding it, if that is possible.

        Returns False when the element must be decoded first: text to clean or to check for
        escape sequences, binary dummies, anything unusual.
        """
        tag = raw.tag
        if action is Action.X:
            del ds[tag]
            run.record(path, tag, action)
            return True
        if vr in _PASSIVE_VRS and action is Action.K:
            return True  # kept as read, never decoded: the fast path for pixel data
        if vr not in _STRING_VRS:
            return False
        if vr in _TEXT_OR_PN and raw.value and _ESC in raw.value:
            return False  # decoded, to be checked for escapes the declared set does not allow
        result: Action | str = action
        new: list[str]
        replacement = self._replacement(vr, action, run)
        if replacement is not None:  # the old value does not matter: not even decoded
            new, result = replacement
            ds[tag] = _raw_strings(raw, vr, new)
            run.record(path, tag, result)
            return True
        values = _ascii_values(raw)
        if values is None:
            return False  # not ASCII: needs the character set
        if action is Action.K:
            return True
        if vr == "UI" or action is Action.U:
            new = [self.uids.map(v) for v in values]
            if new == [v.strip("\0 ") for v in values]:
                return True
            result = Action.U
        elif action is Action.C:
            if vr == "TM":
                run.record(path, tag, "C (time kept)")
                return True
            if vr in ("DA", "DT"):
                new, result = self._shift_values(values, vr, run)
            elif vr in _TEXT_VRS:
                if run.tokens is not None:  # cleaned after the walk, with every token
                    run.pending.append((ds, raw, values))
                    run.record(path, tag, "C (text cleaned)")
                    return True
                scrubber = _scrubber(frozenset())
                new = [scrubber.clean(v) for v in values]
                if run.vocabulary is not None and tag in self._vocabulary_tags:
                    new = [filter_description(v, run.vocabulary) for v in new]
                if not all(v.isascii() for v in new):
                    return False
                result = "C (text cleaned)"
                if new == values:
                    run.record(path, tag, result)
                    return True
            elif vr in ("PN", "AE", "LO", "SH", "CS"):
                new, result = [_dummy_text(vr)], Action.D
            else:
                return True
        else:
            return False
        ds[tag] = _raw_strings(raw, vr, new)
        run.record(path, tag, result)
        return True

    @staticmethod
    def _replacement(vr: str, action: Action, run: _Run) -> tuple[list[str], Action] | None:
        """The new values when ``action`` ignores the old ones (Z, D, pseudonym), else None.

        UIDs are excluded: D on a UI attribute is a consistent remapping, as U.
        """
        if action is Action.Z:
            return [], Action.Z
        if vr == "UI":
            return None
        if action is Action.PSEUDONYM and vr in ("PN", "LO", "SH"):
            return [run.pseudonym], Action.PSEUDONYM
        if action in (Action.D, Action.PSEUDONYM):
            return [_dummy_text(vr)], Action.D
        return None

    def _shift_values(
        self, values: list[str], vr: str, run: _Run
    ) -> tuple[list[str], Action | str]:
        """Action C on dates: shifted by the patient's offset, or removed (PS3.15 E.3.6)."""
        if run.shifter is None:
            return [], Action.Z
        shift = run.shifter.shift_da if vr == "DA" else run.shifter.shift_dt
        shifted = [shift(v.strip()) for v in values if v.strip()]
        if any(v is None for v in shifted):
            return [], Action.Z  # a value we cannot parse is removed, never guessed at
        return [v for v in shifted if v is not None], "C (date shifted)"

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
        run.record(path, elem.tag, action)

    def _apply_sequence(
        self, ds: Dataset, elem: DataElement, action: Action, run: _Run, mode: _Mode, path: str
    ) -> None:
        if action in (Action.X, Action.Z) and run.gathering:
            assert run.tokens is not None
            for item in elem.value:  # not walked: their tokens as phi_tokens finds them
                self._collect(item, run.tokens, True, not self._keeps_dates)
        if action is Action.X:
            del ds[elem.tag]
            run.record(path, elem.tag, action)
            return
        if action is Action.Z:
            elem.value = Sequence()
            run.record(path, elem.tag, action)
            return
        inner = {Action.D: _Mode.DUMMY, Action.C: _Mode.CLEAN}.get(action, mode)
        if inner is not mode:
            run.record(path, elem.tag, action)
        logging = run.log is not None
        for index, item in enumerate(elem.value):
            self._walk(item, run, inner, f"{path}[{index}]." if logging else "")

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
            if run.tokens is not None:  # cleaned after the walk, with every token
                run.pending.append((ds, elem, None))
            else:
                self._clean_text(elem, run, _scrubber(frozenset()))
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
        """PS3.15 E.1.1 items 5–6 and PS3.3 C.7.1.1 / C.7.6.1: declare what was done.

        The four attributes are the same for every object of a run: they are encoded once
        per VR encoding and added as raw elements (immutable, so sharing them is safe).
        """
        implicit, little = ds.original_encoding
        if implicit is None or not little:
            for elem in self._required_dataset():
                ds.add(elem)
            return
        for raw in _encoded_required(self._required_dataset, implicit):
            ds[raw.tag] = raw

    @functools.cached_property
    def _required_dataset(self) -> _RequiredFactory:
        return _RequiredFactory(self)

    def required_attributes(self) -> Dataset:
        """A new dataset holding (0012,0062/0063/0064) and (0028,0303) for this policy."""
        ds = Dataset()
        ds.PatientIdentityRemoved = "YES"
        method = [
            f"raddx {__version__}",
            f"PS3.15 {self.profile.edition} Table E.1-1",
            f"policy {self.policy.name}",
        ]
        if self.safe_private is not None:
            method.append(f"PS3.15 {self.safe_private.edition} Table E.3.10-1")
        if self.policy.birth_date != "remove":
            method.append(f"birth date generalised to {self.policy.birth_date}")
        if self.policy.age_top_code is not None:
            method.append(f"ages top-coded at {self.policy.age_top_code}Y")
        ds.DeidentificationMethod = method
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
        return ds

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
        sop = _ascii_values(ds.get_item(0x00080018))
        if sop:
            meta.MediaStorageSOPInstanceUID = sop[0]
        elif "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        elif "MediaStorageSOPInstanceUID" in meta:
            meta.MediaStorageSOPInstanceUID = self.uids.map(meta.MediaStorageSOPInstanceUID)


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


_DECLARED_ACTIONS = {"D": Action.D, "Z": Action.Z, "X": Action.X, "U": Action.U}


def _declared_private(ds: Dataset) -> dict[tuple[int, str, int | None], Action]:
    """What the input's Private Data Element Characteristics Sequence (0008,0300) declares:
    SAFE blocks (element ``None``: all of it K), the NonidentifyingPrivateElements (0008,0304)
    of MIXED blocks (K), and each DeidentificationActionSequence (0008,0305) item's action
    for its IdentifyingPrivateElements (0008,0306). UNSAFE blocks and malformed items declare
    nothing; an element both listed safe and given an action takes the action."""
    declared: dict[tuple[int, str, int | None], Action] = {}
    if 0x00080300 not in ds:
        return declared
    for item in ds[0x00080300].value or []:
        group = item.get("PrivateGroupReference")
        creator = str(item.get("PrivateCreatorReference", "")).strip()
        if not isinstance(group, int) or not group & 1 or not creator:
            continue
        status = str(item.get("BlockIdentifyingInformationStatus", "")).strip().upper()
        if status == "SAFE":
            declared[(group, creator, None)] = Action.K
        elif status == "MIXED":
            safe = item.get("NonidentifyingPrivateElements")
            for element in safe if isinstance(safe, list | MultiValue) else [safe]:
                if isinstance(element, int):
                    declared[(group, creator, element & 0xFF)] = Action.K
            for step in item.get("DeidentificationActionSequence", None) or []:
                action = _DECLARED_ACTIONS.get(str(step.get("DeidentificationAction", "")))
                named = step.get("IdentifyingPrivateElements")
                if action is None:
                    continue
                for element in named if isinstance(named, list | MultiValue) else [named]:
                    if isinstance(element, int):
                        declared[(group, creator, element & 0xFF)] = action
    return declared


def _declared_entry(
    ds: Dataset, tag: int, creator: str, declared: Mapping[tuple[int, str, int | None], Action]
) -> SafePrivateEntry | None:
    """A safe-private entry for ``tag`` from the input's own declaration, VR as encoded.

    In implicit VR, or encoded as UN, the VR is the one pydicom's private dictionary knows
    for the creator; if it knows none, the element is not kept (``None``). Kept as bytes, a
    UID would not be remapped, a date not shifted and a sequence not walked: the original
    UIDs and a name inside the sequence went out as they came in, whatever the sender
    declared the block to be.
    """
    group, element = tag >> 16, tag & 0xFF
    action = declared.get((group, creator, element), declared.get((group, creator, None)))
    if action is None:
        return None
    raw = ds.get_item(tag)
    vr = raw.VR if isinstance(raw, RawDataElement) else ds[tag].VR
    if vr in (None, "UN"):
        vr = ds[tag].VR  # decoded by the private dictionary, or still UN
        if vr in (None, "UN"):
            return None
    return SafePrivateEntry(group=group, creator=creator, element=element, vr=vr, action=action)


def _top_text(ds: Dataset, tag: int) -> str | None:
    """The first value of a top-level text attribute, without decoding others."""
    if tag not in ds:
        return None
    values = _ascii_values(ds.get_item(tag))
    if values is not None:
        return values[0] if values else None
    value = ds[tag].value
    return str(value) if value else None


def _set_top_text(ds: Dataset, tag: int, vr: str, value: str) -> None:
    if tag in ds:
        del ds[tag]
    ds.add_new(tag, vr, value)


def _bucket_age(ds: Dataset, width: int, run: _Run) -> None:
    """PatientAge in years rounded down to a multiple of ``width`` (policy age_bucket_years)."""
    text = _top_text(ds, 0x00101010)
    bucket = bucket_age(text, width) if text else None
    if bucket is not None:
        _set_top_text(ds, 0x00101010, "AS", bucket)
        run.record("(0010,1010)", 0x00101010, f"bucketed to {width} years")


def _top_code_age(ds: Dataset, top: int, run: _Run) -> None:
    """PatientAge (AS, ``nnnY``) at or above ``top`` years becomes ``top`` years."""
    elem = ds.get_item(0x00101010)
    if elem is None or not elem.value:
        return
    value = elem.value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else str(value)
    text = text.strip(" \0")
    if len(text) == 4 and text[:3].isdigit() and text[3] == "Y" and int(text[:3]) >= top:
        del ds[0x00101010]
        ds.PatientAge = f"{top:03d}Y"
        run.record("(0010,1010)", 0x00101010, f"top-coded at {top}Y")


def _describe_private_blocks(ds: Dataset, run: _Run) -> None:
    """Private Data Element Characteristics Sequence (0008,0300; PS3.3 C.12.1.1.7) for the
    private blocks still present at the top level, as PS3.15 E.3.10 asks of a de-identifier
    that retains private attributes: each kept block holds only allow-listed elements, so it
    is declared SAFE. An input's sequence described the original blocks, most of them
    removed now: it is replaced (or removed, when no private attribute is left)."""
    if 0x00080300 in ds:
        del ds[0x00080300]
        run.record("(0008,0300)", 0x00080300, "X (described the original private blocks)")
    items = []
    tags = list(ds.keys())  # not iterating ds itself: that would decode every value
    creators = [t for t in tags if (t >> 16) & 1 and 0x0010 <= t & 0xFFFF <= 0x00FF]
    for tag in sorted(creators, key=int):  # usually none: no sort of the whole dataset
        group, element = tag >> 16, tag & 0xFFFF
        creator = _private_creator(ds, group, element)
        if creator is None:
            continue
        item = Dataset()
        item.PrivateGroupReference = group
        item.PrivateCreatorReference = creator
        item.BlockIdentifyingInformationStatus = "SAFE"
        items.append(item)
    if items:
        ds.PrivateDataElementCharacteristicsSequence = items
        run.record("(0008,0300)", 0x00080300, f"added ({len(items)} safe private block(s))")


def _private_creator(ds: Dataset, group: int, block: int) -> str | None:
    """The Private Creator reserving ``(group, block)`` in ``ds`` (PS3.5 7.8.1), if any."""
    elem = ds.get_item((group << 16) | block)
    if elem is None or not elem.value:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return value.decode("latin-1").strip(" \0") or None
    return str(value).strip(" \0") or None


def _unlisted(tag: int, vr: str, mode: _Mode) -> Action:
    """Not in Table E.1-1: kept, except UIDs (remapped unless well known) and, inside a
    dummied or cleaned sequence, the text that is not a coded concept."""
    if vr == "UI":
        return Action.U
    if mode is _Mode.NORMAL or tag in _CODE_TAGS:
        return Action.K
    if vr in _TEXT_VRS or vr in ("PN", "DA", "DT"):
        return Action.D if mode is _Mode.DUMMY else Action.C
    return Action.K


@functools.lru_cache(maxsize=4096)
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _vr_of(elem: DataElement | RawDataElement | None, tag: int) -> str:
    """The VR of an element as read (implicit VR: from the dictionary), without decoding."""
    vr = elem.VR if elem is not None else None
    return vr if vr is not None else _dictionary_vr(tag)


def _add_tokens(tokens: set[str], vr: str, values: list[str]) -> None:
    """The PHI tokens of one element's values: every spelling of a name (all PN groups and
    their parts), a date's usual spellings, else the trimmed value itself. Shared by the walk
    and :meth:`Deidentifier.phi_tokens` (its oracle checks which elements are visited)."""
    if vr == "PN":
        for value in values:
            tokens |= name_tokens(value)
    elif vr in ("DA", "DT"):
        for value in values:
            tokens |= date_spellings(value.strip()[:8])
    else:
        tokens.update(v.strip() for v in values if v.strip())


def _ascii_values(elem: DataElement | RawDataElement | None) -> list[str] | None:
    """The values of a raw string element whose bytes are ASCII without ESC, else ``None``.

    Such bytes mean the same in every character set (PS3.5 6.1.2.3), so they are split
    and stripped as pydicom would, without the cost of converting the element.
    """
    if not isinstance(elem, RawDataElement):
        return None
    value = elem.value
    if not value:
        return []
    if not value.isascii() or _ESC in value:
        return None
    text = value.decode("ascii").rstrip("\0 ")
    return text.split("\\") if text else []


def _utf8_values(raw: DataElement | RawDataElement) -> list[str] | None:
    """The values of a raw element of an object in ISO_IR 192 alone, decoded as pydicom
    would (``convert_PN``: padding stripped, UTF-8, split at backslashes), or ``None`` for
    pydicom to decode (escapes, invalid UTF-8: it warns and replaces). Left raw, a name the
    policy replaces is then never decoded at all."""
    if not isinstance(raw, RawDataElement) or not raw.value or _ESC in raw.value:
        return None
    try:
        return raw.value.rstrip(b"\0 ").decode("utf-8").split("\\")
    except UnicodeDecodeError:
        return None


def _dummy_text(vr: str) -> str:
    return str(dummy_value(vr))


def _raw_strings(raw: RawDataElement, vr: str, values: list[str]) -> RawDataElement:
    """A raw element holding ASCII ``values``, padded to even length (PS3.5 6.2)."""
    data = "\\".join(values).encode("ascii")
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return RawDataElement(
        raw.tag, vr, len(data), data, raw.value_tell, raw.is_implicit_VR, raw.is_little_endian
    )


def _to_utf8(ds: Dataset, run: _Run) -> None:
    """Declare ISO_IR 192 wherever a character set is declared (or needed).

    By now every text value that is not plain ASCII has been decoded by the walk (a raw
    value is only kept as read when its bytes are ASCII without ESC, which reads the same in
    every character set we accept, PS3.5 6.1.2.3), so pydicom encodes it in UTF-8 on write
    and the ASCII bytes are valid UTF-8 as they stand. Declaring the new set as the
    "original" one keeps pydicom's writer on its fast path instead of decoding every value
    (``set_original_encoding`` is documented for exactly this).
    """
    if run.non_ascii or "SpecificCharacterSet" in ds:
        _declare_utf8(ds)
    if run.item_charsets:
        _declare_utf8_in_items(ds)


def _declare_utf8(ds: Dataset) -> None:
    ds.SpecificCharacterSet = _UTF8
    implicit, little = ds.original_encoding
    ds.set_original_encoding(implicit, little, convert_encodings(_UTF8))


def _declare_utf8_in_items(ds: Dataset) -> None:
    for tag in list(ds.keys()):
        elem = ds.get_item(tag)
        if _vr_of(elem, tag) != "SQ" or isinstance(elem, RawDataElement):
            continue  # a raw sequence here is one we added: no character set in it
        for item in ds[tag].value:
            if _SPECIFIC_CHARACTER_SET in item:
                _declare_utf8(item)
            _declare_utf8_in_items(item)


class _RequiredFactory:
    """Builds :meth:`Deidentifier.required_attributes` once and caches its encodings."""

    def __init__(self, engine: Deidentifier) -> None:
        self.template = engine.required_attributes()
        self.encoded: dict[bool, tuple[RawDataElement, ...]] = {}

    def __call__(self) -> list[DataElement]:
        return [copy.deepcopy(elem) for elem in self.template]


def _encoded_required(factory: _RequiredFactory, implicit: bool) -> tuple[RawDataElement, ...]:
    """The required attributes as raw little-endian elements in ``implicit`` VR encoding."""
    cached = factory.encoded.get(implicit)
    if cached is not None:
        return cached
    raws = []
    for elem in factory.template:
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = implicit
        if elem.VR == "SQ":
            for item in elem.value:
                body = DicomBytesIO()
                body.is_little_endian = True
                body.is_implicit_VR = implicit
                write_dataset(body, item)
                fp.write(struct.pack("<HHI", 0xFFFE, 0xE000, body.tell()) + body.getvalue())
            value = fp.getvalue()
        else:
            write_data_element(fp, elem)
            encoded = fp.getvalue()
            header = 8 if implicit or elem.VR not in _LONG_HEADER_VRS else 12
            value = encoded[header:]
        raws.append(RawDataElement(elem.tag, elem.VR, len(value), value, 0, implicit, True))
    factory.encoded[implicit] = tuple(raws)
    return factory.encoded[implicit]
