"""Encode a de-identified dataset as a Part 10 file, copying untouched elements as read.

pydicom's writer runs its full per-element machinery (a buffer, VR checks, length
fix-ups) even for an element still in its raw form, which made writing the largest cost of a
header-only de-identification run. Most elements of a de-identified object are kept
unchanged, so here a raw element is emitted as its header plus the bytes read, and only
the elements the engine changed go through pydicom's ``write_data_element`` (which knows
how to encode every VR and character set). Sequences are written with undefined length,
as pydicom does. Anything outside the little-endian, non-deflated transfer syntaxes is left
to pydicom's ``dcmwrite``.
"""

from __future__ import annotations

import io
import struct

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from raddx.archive.part10 import file_meta_header

__all__ = ["encode_part10", "uid_value"]

#: PS3.5 Table 7.1-1: VRs with a reserved field and a 32-bit length in explicit VR.
_LENGTH_32 = frozenset(
    {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
)
_UNDEFINED = 0xFFFFFFFF
_HEAD_16 = struct.Struct("<HH2sH")
_HEAD_32 = struct.Struct("<HH2sHI")
_HEAD_IMPLICIT = struct.Struct("<HHI")
_ITEM = struct.pack("<HHI", 0xFFFE, 0xE000, _UNDEFINED)
_ITEM_END = struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
_SEQUENCE_END = struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


def encode_part10(ds: Dataset) -> bytes:
    """``ds`` as a DICOM Part 10 file (PS3.10 7.1) in the transfer syntax it was read in.

    The file meta group is built anew by ``archive.part10.file_meta_header``: a zero
    preamble (an input's preamble may carry a TIFF header with anything in it), the SOP
    Class/Instance UIDs of the dataset, and raddx as the implementation that wrote the file.

    Parameters
    ----------
    ds : Dataset
        Read by ``dcmread`` and changed in place by the engine.

    Returns
    -------
    bytes

    Raises
    ------
    ValueError
        ``ds`` has no SOP Class UID or SOP Instance UID (not a composite instance).
    """
    meta = getattr(ds, "file_meta", None)
    implicit, little = ds.original_encoding
    syntax = UID(meta.get("TransferSyntaxUID", "") if meta is not None else "")
    if not syntax:
        syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    if (
        not syntax.is_little_endian
        or syntax == DeflatedExplicitVRLittleEndian
        or little is False
        or (implicit is not None and implicit != syntax.is_implicit_VR)
    ):
        buffer = io.BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return buffer.getvalue()
    sop_class = uid_value(ds, 0x00080016) or (meta or {}).get("MediaStorageSOPClassUID")
    sop_instance = uid_value(ds, 0x00080018)
    if not sop_class or not sop_instance:
        raise ValueError("not a composite instance: no SOP Class UID or SOP Instance UID")
    fp = DicomBytesIO()
    fp.write(
        file_meta_header(
            sop_class_uid=str(sop_class),
            sop_instance_uid=str(sop_instance),
            transfer_syntax_uid=str(syntax),
        )
    )
    fp.is_little_endian = True
    fp.is_implicit_VR = syntax.is_implicit_VR
    _write_dataset(fp, ds, ds.get("SpecificCharacterSet") or "ISO_IR 6")
    return fp.getvalue()


def uid_value(ds: Dataset, tag: int) -> str | None:
    """The UID at ``tag`` as ``ds.get`` gives it (``None`` if absent), read from the raw bytes
    when they hold one ASCII value: the element stays raw, and the writer copies it as is."""
    raw = ds.get_item(tag)
    if raw is None:
        return None
    if isinstance(raw, RawDataElement):
        value = raw.value
        if value and value.isascii() and b"\\" not in value:
            return value.decode("ascii").rstrip("\0 ").strip()
    value = ds[tag].value
    return None if value is None else str(value)


def _write_dataset(fp: DicomBytesIO, ds: Dataset, encodings: str | list[str]) -> None:
    own = ds.get_item(0x00080005)
    if own is not None:
        encodings = ds.SpecificCharacterSet or encodings
    implicit = fp.is_implicit_VR
    write = fp.write
    for tag in sorted(ds.keys(), key=int):  # int comparisons: BaseTag's are Python code
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group lengths (PS3.5 7.2) are not written
        elem = ds.get_item(tag)
        if isinstance(elem, RawDataElement):
            # A raw sequence of defined length is written as read: the engine decodes and
            # walks every sequence it keeps, so one still raw is one it added itself.
            if (
                elem.length == _UNDEFINED
                or elem.value is None
                or (elem.VR is None and not implicit)
            ):
                elem = ds[tag]  # undefined length, deferred, or VR unknown: decode it
            else:
                value = elem.value
                if implicit:
                    write(_HEAD_IMPLICIT.pack(tag >> 16, tag & 0xFFFF, len(value)))
                elif elem.VR in _LENGTH_32:
                    write(_HEAD_32.pack(tag >> 16, tag & 0xFFFF, elem.VR.encode(), 0, len(value)))
                elif len(value) <= 0xFFFF:
                    write(_HEAD_16.pack(tag >> 16, tag & 0xFFFF, elem.VR.encode(), len(value)))
                else:
                    elem = ds[tag]  # too long for its VR's 16-bit length: pydicom writes UN
                if isinstance(elem, RawDataElement):
                    write(value)
                    continue
        if elem.VR == "SQ":
            _write_sequence(fp, elem, encodings)
        else:
            write_data_element(fp, elem, encodings)


def _write_sequence(fp: DicomBytesIO, elem: DataElement, encodings: str | list[str]) -> None:
    tag = elem.tag
    if fp.is_implicit_VR:
        fp.write(_HEAD_IMPLICIT.pack(tag >> 16, tag & 0xFFFF, _UNDEFINED))
    else:
        fp.write(_HEAD_32.pack(tag >> 16, tag & 0xFFFF, b"SQ", 0, _UNDEFINED))
    for item in elem.value:
        fp.write(_ITEM)
        _write_dataset(fp, item, encodings)
        fp.write(_ITEM_END)
    fp.write(_SEQUENCE_END)
