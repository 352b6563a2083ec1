"""De-identification policies: which options, which overrides, which key, what to quarantine.

A policy is a small declarative document (YAML or JSON). The named modes ship as files in
``raddx/deid/policies/`` (``basic``, ``pseudonymize``, ``anonymize``); users copy one and edit
it. Loading validates everything, so an engine is never built from a policy it cannot honour
(STYLE rule 4).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydicom.datadict import tag_for_keyword

from raddx.deid.profile import Action, DeidentificationOption
from raddx.deid.vocabulary import load_vocabulary

__all__ = [
    "CoercePolicy",
    "DateShiftPolicy",
    "PixelMatch",
    "PixelRule",
    "Policy",
    "QuarantinePolicy",
    "SafePrivateRule",
    "list_policies",
    "load_policy",
]

#: Head and face body parts (PS3.16 Annex L BodyPartExamined values, upper case): a CT or MR
#: volume of these can be rendered into a recognisable face.
_FACE_BODY_PARTS = (
    "HEAD",
    "BRAIN",
    "SKULL",
    "FACE",
    "HEADNECK",
    "NECK",
    "ORBIT",
    "EYE",
    "SINUS",
    "NOSE",
    "MOUTH",
    "JAW",
    "TMJ",
    "EAR",
    "IAC",
    "CSPINE",
)
#: Words of StudyDescription / SeriesDescription / ProtocolName that say "head" when
#: BodyPartExamined is missing (it often is): English and Japanese.
_FACE_WORDS = (
    "HEAD",
    "BRAIN",
    "SKULL",
    "FACE",
    "ORBIT",
    "SINUS",
    "NECK",
    "頭部",
    "頭頸部",
    "頭蓋",
    "脳",
    "顔",
    "眼窩",
    "副鼻腔",
    "頸部",
)


class DateShiftPolicy(BaseModel):
    """Per-patient date offset for the Modified Dates option (PS3.15 E.3.6).

    Every date of one patient moves back by the same whole number of days, drawn from
    ``[min_days, max_days]`` by the keyed HMAC of the patient's identity, so intervals are
    kept and times of day stay valid.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    min_days: int = Field(30, ge=1)
    max_days: int = Field(3650, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> DateShiftPolicy:
        if self.max_days < self.min_days:
            raise ValueError("date_shift.max_days must be >= min_days")
        return self


class QuarantinePolicy(BaseModel):
    """Objects that go to quarantine instead of the output (burned-in text risk).

    Ultrasound, secondary capture and "other" objects and anything declaring
    BurnedInAnnotation YES (0028,0301) commonly carry patient text in the pixels, which header
    de-identification cannot remove (PS3.15 E.3.1; JESRA TR-0045 burned-in annotations).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    modalities: tuple[str, ...] = ("US", "OT", "SC", "XC", "DOC")
    sop_classes: tuple[str, ...] = (
        "SecondaryCaptureImageStorage",
        "MultiFrameSingleBitSecondaryCaptureImageStorage",
        "MultiFrameGrayscaleByteSecondaryCaptureImageStorage",
        "MultiFrameGrayscaleWordSecondaryCaptureImageStorage",
        "MultiFrameTrueColorSecondaryCaptureImageStorage",
        "EncapsulatedPDFStorage",
    )
    burned_in_annotation: bool = True
    #: Clean Recognizable Visual Features (PS3.15 E.3.2, 113102) by withholding: a CT or MR
    #: object of the head (BodyPartExamined, or a head word in its descriptions), or one that
    #: does not say what it shows, goes to quarantine for review by hand, since a face can be
    #: rendered from the volume and raddx does not deface. The ``public`` policy sets it.
    recognizable_faces: bool = False
    face_modalities: tuple[str, ...] = ("CT", "MR")
    face_body_parts: tuple[str, ...] = _FACE_BODY_PARTS
    face_words: tuple[str, ...] = _FACE_WORDS

    @field_validator("sop_classes")
    @classmethod
    def _known_sop_classes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import pydicom.uid

        unknown = [v for v in value if not isinstance(getattr(pydicom.uid, v, None), str)]
        if unknown:
            raise ValueError(f"quarantine.sop_classes: unknown SOP class keyword(s) {unknown}")
        return value


class PixelMatch(BaseModel):
    """A device signature: every field given must match (``manufacturer`` and ``model`` are
    case-insensitive substrings of Manufacturer / ManufacturerModelName, the rest exact)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    modality: str | None = Field(None, min_length=1, max_length=16)
    manufacturer: str | None = Field(None, min_length=1, max_length=64)
    model: str | None = Field(None, min_length=1, max_length=64)
    rows: int | None = Field(None, ge=1, le=0xFFFF)
    columns: int | None = Field(None, ge=1, le=0xFFFF)
    sop_class: str | None = None  #: a pydicom.uid keyword, e.g. UltrasoundImageStorage

    @model_validator(mode="after")
    def _something(self) -> PixelMatch:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError("pixel_rules: a match needs at least one field (it would match all)")
        if self.sop_class is not None:
            import pydicom.uid

            if not isinstance(getattr(pydicom.uid, self.sop_class, None), str):
                raise ValueError(f"pixel_rules: unknown SOP class keyword {self.sop_class}")
        return self


class PixelRule(BaseModel):
    """Clean Pixel Data by region: objects matching ``match`` have ``regions`` blanked to 0
    in every frame. A region is ``[x, y, width, height]`` in pixels from the top-left corner
    (x along columns, y along rows); parts outside the image are ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    match: PixelMatch
    regions: tuple[tuple[int, int, int, int], ...] = Field(min_length=1)

    @field_validator("regions")
    @classmethod
    def _rectangles(
        cls, value: tuple[tuple[int, int, int, int], ...]
    ) -> tuple[tuple[int, int, int, int], ...]:
        for x, y, width, height in value:
            if x < 0 or y < 0 or width < 1 or height < 1:
                raise ValueError(
                    f"pixel_rules: region {[x, y, width, height]} needs x, y >= 0 and "
                    "width, height >= 1"
                )
        return value


class CoercePolicy(BaseModel):
    """Referral import (``mode: coerce``): the local issuer and the ID map (a CSV with
    ``patient_id``, ``local_patient_id`` and optionally ``issuer_of_patient_id``; a relative
    path is taken from the working directory)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    issuer_of_patient_id: str = Field(min_length=1, max_length=64)
    id_map: Path


class SafePrivateRule(BaseModel):
    """A policy's own safe private attribute (added to PS3.15 Table E.3.10-1).

    ``group`` and ``element`` are hexadecimal (``"0019"``, ``"0C"`` for ``(0019,xx0C)``);
    ``creator`` is the Private Creator string the block must carry; ``vr`` is used when the
    object does not say (implicit VR, or UN).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    group: str = Field(pattern=r"^[0-9A-Fa-f]{4}$")
    creator: str = Field(min_length=1, max_length=64)
    element: str = Field(pattern=r"^(xx|XX)?[0-9A-Fa-f]{2}$")
    vr: str = Field(pattern=r"^[A-Z]{2}$")
    action: Action = Action.K

    @field_validator("group")
    @classmethod
    def _private_group(cls, value: str) -> str:
        if not int(value, 16) & 1:
            raise ValueError(f"safe_private: group {value} is not private (not odd)")
        return value

    @field_validator("action")
    @classmethod
    def _simple_action(cls, value: Action) -> Action:
        if value not in (Action.K, Action.X, Action.Z, Action.D, Action.U, Action.C):
            raise ValueError(f"safe_private: action {value} is not one of K, X, Z, D, U, C")
        return value


class Policy(BaseModel):
    """One de-identification mode.

    Attributes
    ----------
    name : str
        Recorded in DeidentificationMethod (0012,0063) and the manifest.
    options : tuple of DeidentificationOption
        PS3.15 E.3 options by name (``clean_descriptors``) or CID 7050 code (``"113105"``).
    overrides : dict
        DICOM keyword or ``"ggggeeee"`` tag → action code (``K``, ``X``, ``Z``, ``D``, ``C``,
        ``U`` or ``P`` for the keyed patient pseudonym); applied after the options.
    key : {"project", "ephemeral"}
        ``project``: UIDs, pseudonyms and date offsets come from a keyed HMAC with the project
        key, so two runs give the same output (linkable, APPI 仮名加工情報; the key is the
        削除情報等 and must be kept safe). ``ephemeral``: a random key per run that is never
        stored, so nothing links the output back (APPI 匿名加工情報 ③).
    output_charset : {"ISO_IR 192", "keep"}
        Write text in UTF-8, or in the object's original Specific Character Set.
    safe_private : tuple of SafePrivateRule
        Private attributes kept (or given another action) besides PS3.15 Table E.3.10-1;
        only with the ``retain_safe_private`` option.
    mode : {"deidentify", "coerce"}
        ``coerce`` is the referral mode: only PatientID/IssuerOfPatientID change, from
        ``coerce`` (:class:`CoercePolicy`), the originals kept in OriginalAttributesSequence.
    pixel_rules : tuple of PixelRule
        Clean Pixel Data by device signature (regions blanked; needs the ``clean_pixel_data``
        option). A high-risk object a rule covers is output with BurnedInAnnotation NO;
        one no rule covers stays in quarantine.
    age_top_code : int, optional
        Top-coding of a kept PatientAge (APPI 匿名加工情報: no 特異な記述): an age in years
        at or above it is written as that many years (``090Y``); ages in months, weeks or
        days are below any sensible top code and are kept. A generalised birth date is
        top-coded the same way against the study date.
    birth_date : {"remove", "year", "year_month"}
        Patient's Birth Date: emptied as Table E.1-1 says (``remove``), or kept generalised to
        the first day of its year or month after the patient's date shift and the top code
        (``raddx.deid.birth``), so ages stay computable without the exact date.
    age_bucket_years : int, optional
        A kept PatientAge in years is rounded down to a multiple of it (``047Y`` → ``045Y``
        for 5), after top-coding.
    honour_private_characteristics : bool
        Trust the input's Private Data Element Characteristics Sequence (0008,0300; PS3.3
        C.12.1.1.7) besides Table E.3.10-1: a block declared SAFE is kept whole, the
        NonidentifyingPrivateElements of a MIXED block are kept, and the
        DeidentificationActionSequence's D/Z/X/U actions are applied to the elements it names
        (top level only; needs ``retain_safe_private``). Off by default: it trusts the sender.
    descriptor_vocabularies : dict of str to str
        Modality (or ``"*"``) → vocabulary (shipped ``ct``/``mr``/``xr``/``common`` or a file):
        under Clean Descriptors the ``vocabulary_attributes`` keep only words of that list
        (``raddx.deid.vocabulary``); other words become ``*``.
    vocabulary_attributes : tuple of str
        The description attributes (keywords) a vocabulary applies to.
    registry : {"keyed", "database"}
        Where patient pseudonyms and date offsets come from: keyed HMACs (no storage), or
        random values kept in the index database with every lookup audited (APPI 仮名加工情報
        対応表; needs ``key: project``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    options: tuple[DeidentificationOption, ...] = ()
    overrides: dict[str, Action] = Field(default_factory=dict)
    key: Literal["project", "ephemeral"] = "ephemeral"
    date_shift: DateShiftPolicy = DateShiftPolicy()
    output_charset: Literal["ISO_IR 192", "keep"] = "ISO_IR 192"
    quarantine: QuarantinePolicy = QuarantinePolicy()
    safe_private: tuple[SafePrivateRule, ...] = ()
    registry: Literal["keyed", "database"] = "keyed"
    mode: Literal["deidentify", "coerce"] = "deidentify"
    coerce: CoercePolicy | None = None
    pixel_rules: tuple[PixelRule, ...] = ()
    age_top_code: int | None = Field(None, ge=1, le=150)
    birth_date: Literal["remove", "year", "year_month"] = "remove"
    age_bucket_years: int | None = Field(None, ge=2, le=50)
    honour_private_characteristics: bool = False
    descriptor_vocabularies: dict[str, str] = Field(default_factory=dict)
    vocabulary_attributes: tuple[str, ...] = (
        "StudyDescription",
        "SeriesDescription",
        "ProtocolName",
        "PerformedProcedureStepDescription",
        "RequestedProcedureDescription",
        "ScheduledProcedureStepDescription",
    )

    @field_validator("options", mode="before")
    @classmethod
    def _option_names(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        names = {o.name.lower(): o for o in DeidentificationOption}
        return tuple(names.get(str(v).lower(), v) for v in value)

    @field_validator("options")
    @classmethod
    def _supported(cls, value: tuple[DeidentificationOption, ...]) -> Any:
        dates = {
            DeidentificationOption.RETAIN_LONGITUDINAL_FULL_DATES,
            DeidentificationOption.RETAIN_LONGITUDINAL_MODIFIED_DATES,
        }
        if dates <= set(value):
            raise ValueError("full and modified dates are mutually exclusive (PS3.15 E.3.6)")
        return tuple(sorted(set(value)))

    @field_validator("overrides")
    @classmethod
    def _known_tags(cls, value: dict[str, Action]) -> dict[str, Action]:
        for key in value:
            _override_tag(key)
        return value

    @model_validator(mode="after")
    def _coerce_is_its_own_mode(self) -> Policy:
        if self.mode == "coerce" and self.coerce is None:
            raise ValueError("mode: coerce needs coerce.issuer_of_patient_id and coerce.id_map")
        if self.mode == "coerce" and (self.options or self.overrides or self.safe_private):
            raise ValueError("mode: coerce changes the patient ID only: no options or overrides")
        if self.mode == "deidentify" and self.coerce is not None:
            raise ValueError("coerce settings need mode: coerce")
        return self

    @model_validator(mode="after")
    def _database_registry_needs_a_project_key(self) -> Policy:
        if self.registry == "database" and self.key != "project":
            raise ValueError(
                "registry: database keeps a correspondence table, which unlinkable output "
                "(key: ephemeral) must not have (APPI 匿名加工情報)"
            )
        return self

    @model_validator(mode="after")
    def _pixel_rules_and_their_option(self) -> Policy:
        option = DeidentificationOption.CLEAN_PIXEL_DATA in self.options
        if self.pixel_rules and not option:
            raise ValueError("pixel_rules need the clean_pixel_data option")
        if option and not self.pixel_rules:
            raise ValueError(
                "clean_pixel_data needs pixel_rules (regions to blank); objects no rule "
                "covers are quarantined"
            )
        return self

    @model_validator(mode="after")
    def _faces_withheld_for_their_option(self) -> Policy:
        # raddx does not deface: the option is honoured only by withholding every object that
        # could show a face, or its CID 7050 code would claim a cleaning that never happened.
        option = DeidentificationOption.CLEAN_RECOGNIZABLE_VISUAL_FEATURES in self.options
        if option and not self.quarantine.recognizable_faces:
            raise ValueError(
                "clean_recognizable_visual_features needs quarantine.recognizable_faces: true "
                "(raddx does not deface; head CT/MR objects go to quarantine for review)"
            )
        return self

    @model_validator(mode="after")
    def _safe_private_needs_its_option(self) -> Policy:
        retains = DeidentificationOption.RETAIN_SAFE_PRIVATE in self.options
        if self.safe_private and not retains:
            raise ValueError("safe_private entries need the retain_safe_private option")
        if self.honour_private_characteristics and not retains:
            raise ValueError("honour_private_characteristics needs the retain_safe_private option")
        return self

    @model_validator(mode="after")
    def _vocabularies_load(self) -> Policy:
        if not self.descriptor_vocabularies:
            return self
        if DeidentificationOption.CLEAN_DESCRIPTORS not in self.options:
            raise ValueError("descriptor_vocabularies need the clean_descriptors option")
        for vocabulary in self.descriptor_vocabularies.values():
            load_vocabulary(vocabulary)  # ValueError names what is wrong
        for keyword in self.vocabulary_attributes:
            if tag_for_keyword(keyword) is None:
                raise ValueError(f"vocabulary_attributes: unknown keyword {keyword!r}")
        return self

    def vocabulary_tags(self) -> frozenset[int]:
        """``vocabulary_attributes`` as integer tags."""
        return frozenset(int(tag_for_keyword(k) or 0) for k in self.vocabulary_attributes)

    def override_tags(self) -> dict[int, Action]:
        """``overrides`` keyed by integer tag."""
        return {_override_tag(k): v for k, v in self.overrides.items()}

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of this policy, for the run manifest."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _override_tag(key: str) -> int:
    tag = tag_for_keyword(key)
    if tag is not None:
        return tag
    hex_digits = key.strip("()").replace(",", "")
    if len(hex_digits) == 8:
        try:
            return int(hex_digits, 16)
        except ValueError:
            pass
    raise ValueError(f"overrides: {key!r} is neither a DICOM keyword nor a tag 'ggggeeee'")


def list_policies() -> list[str]:
    """Names of the policies shipped with raddx."""
    folder = resources.files("raddx.deid").joinpath("policies")
    return sorted(
        p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml")
    )


def load_policy(name_or_path: str | Path) -> Policy:
    """A shipped policy by name, or a YAML/JSON policy file by path.

    Raises
    ------
    ValueError
        Unknown name, unreadable file or invalid policy (the message says which field).
    """
    path = Path(name_or_path)
    if path.suffix.lower() in {".yaml", ".yml", ".json"} or path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read policy file {path}: {exc.strerror}") from None
    else:
        if str(name_or_path) not in list_policies():
            raise ValueError(
                f"unknown policy {name_or_path!r}; shipped: {', '.join(list_policies())}"
            )
        folder = resources.files("raddx.deid").joinpath("policies")
        text = folder.joinpath(f"{name_or_path}.yaml").read_text("utf-8")
    data = yaml.safe_load(text)  # JSON is a subset of YAML 1.2 for these documents
    if not isinstance(data, dict):
        raise ValueError("a policy is a mapping (name, options, overrides, …)")
    return Policy.model_validate(data)
