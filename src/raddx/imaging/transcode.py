"""Transcoding a stored object to Explicit VR Little Endian (PS3.5 A.2), the transfer
syntax every DICOMweb client reads (PS3.18 8.7.3.5): WADO-RS and WADO-URI send it when
a client asks for it instead of the stored syntax.

- Implicit VR Little Endian and Deflated Explicit VR Little Endian are re-encoded by
  pydicom (values unchanged).
- Explicit VR Big Endian: pydicom re-encodes the numeric VRs itself but leaves the byte
  order of OW/OF/OL/OD/OV values to the caller (it refuses the conversion); they are
  swapped here, as PS3.5 7.3 defines their words.
- Compressed syntaxes are decoded by pydicom's pixel handlers
  (:func:`pydicom.pixels.decompress`, which sets the Image Pixel attributes to match: YBR
  becomes RGB, planar configuration 0), keeping the SOP Instance UID: the object is the
  same instance in another encoding (PS3.5 A.4 notes).

An object already in the target syntax is returned as it was stored, byte for byte.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import decompress
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from raddx.imaging.render import CannotDecode

__all__ = [
    "LOSSY_SYNTAXES",
    "TRANSCODING_TARGETS",
    "can_transcode",
    "decompress_pixel_data",
    "is_lossy",
    "to_explicit_little_endian",
    "transcode",
]

#: The syntaxes we can transcode to (PS3.18 8.7.3.5: the default one).
TRANSCODING_TARGETS = frozenset({ExplicitVRLittleEndian})

#: Syntaxes whose pixel data is (or may be) lossy compressed (PS3.5 Table A-1, 8.2, 8.4:
#: JPEG baseline/extended, JPEG-LS near-lossless, JPEG 2000 and HTJ2K that allow lossy,
#: MPEG-2/MPEG-4/HEVC video). PS3.18 8.7.3.4 lets them be sent as received.
LOSSY_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.81",
        "1.2.840.10008.1.2.4.91",
        "1.2.840.10008.1.2.4.203",
        *(f"1.2.840.10008.1.2.4.{n}" for n in range(100, 109)),
    }
)

_RE_ENCODED = frozenset({ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})
#: Item size of the binary VRs whose words are in the dataset's byte order (PS3.5 6.2).
_WORD_SIZE = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def is_lossy(syntax: str) -> bool:
    """Whether ``syntax`` is one of :data:`LOSSY_SYNTAXES`."""
    return syntax in LOSSY_SYNTAXES


def can_transcode(stored: str, target: str) -> tuple[bool, str]:
    """Whether an object stored as ``stored`` can be sent as ``target``, and why not.

    Cheap (no object read): decided from the syntaxes and the installed decoders, so a
    door can refuse a whole retrieve before the first byte is on the wire.
    """
    if stored == target:
        return True, ""
    if target not in TRANSCODING_TARGETS:
        return False, f"transcoding to {UID(target).name} is not supported"
    syntax = UID(stored)
    if stored in _RE_ENCODED or stored == ExplicitVRBigEndian:
        return True, ""
    if not syntax.is_transfer_syntax:  # a private syntax ingest kept: nothing to go by
        return False, f"{stored} is not a transfer syntax we know"
    if not syntax.is_compressed:
        return False, f"{syntax.name} is not a syntax we know how to convert"
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:  # pydicom has no decoder at all (MPEG, HEVC…)
        available = False
    if not available:
        return False, f"no decoder for {syntax.name} is installed"
    return True, ""


def _swap_words(ds: Dataset) -> None:
    """Byte-swap the OW/OF/OL/OD/OV values of a big endian dataset, nested ones included."""

    def swap(dataset: Dataset, element: DataElement) -> None:
        # pydicom refuses to change the byte order of a dataset read as big endian, as it
        # cannot swap these values; with them swapped, each dataset is little endian.
        dataset.set_original_encoding(
            dataset.original_encoding[0], True, dataset.original_character_set
        )
        size = _WORD_SIZE.get(str(element.VR))
        value = element.value
        if size and isinstance(value, bytes) and len(value) % size == 0:
            element.value = np.frombuffer(value, dtype=f">u{size}").astype(f"<u{size}").tobytes()

    ds.set_original_encoding(ds.original_encoding[0], True, ds.original_character_set)
    ds.walk(swap)


def decompress_pixel_data(ds: Dataset) -> None:
    """Decode ``ds``'s compressed pixel data in place to native Explicit VR Little Endian
    (colour as RGB, the pixel attributes and the file meta's syntax updated, the SOP
    Instance UID kept).

    Raises
    ------
    CannotDecode
        No installed decoder reads its syntax, or the pixel data is damaged.
    """
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    try:
        decompress(ds, as_rgb=True, generate_instance_uid=False)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        raise CannotDecode(f"the pixel data ({syntax.name}) cannot be decoded: {exc}") from None


def to_explicit_little_endian(ds: Dataset) -> bytes:
    """``ds`` (read with its file meta) as an Explicit VR Little Endian Part 10 file.

    Raises
    ------
    CannotDecode
        Its pixel data is compressed in a syntax no installed decoder reads.
    """
    syntax = UID(ds.file_meta.TransferSyntaxUID)
    if syntax.is_compressed:
        decompress_pixel_data(ds)
    elif not syntax.is_little_endian:
        _swap_words(ds)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    dcmwrite(
        buffer,
        ds,
        implicit_vr=False,
        little_endian=True,
        enforce_file_format=True,
    )
    return buffer.getvalue()


def transcode(part10: bytes, stored: str, target: str) -> bytes:
    """A stored Part 10 object in ``target``; ``part10`` itself when already in it.

    Raises
    ------
    CannotDecode
        ``target`` is not one we produce, or the stored pixel data cannot be decoded
        (:func:`can_transcode` says so beforehand).
    """
    if stored == target:
        return part10
    ok, reason = can_transcode(stored, target)
    if not ok:
        raise CannotDecode(reason)
    try:
        return to_explicit_little_endian(pydicom.dcmread(BytesIO(part10)))
    except CannotDecode:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        # A value pydicom read leniently but cannot write in the new encoding (a VR whose
        # length no longer fits, a malformed value): say so instead of failing mid-stream.
        name = UID(target).name
        raise CannotDecode(f"the object cannot be re-encoded in {name}: {exc}") from None
