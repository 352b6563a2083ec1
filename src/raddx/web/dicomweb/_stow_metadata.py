"""STOW-RS of metadata and bulk data (PS3.18 10.5.2, 8.7.3.3; DICOM JSON Annex F.2, Native
DICOM Model PS3.19 A.1): instances described by an ``application/dicom+json`` (or
``application/dicom+xml``) part whose binary values are ``BulkDataURI`` references to other
parts of the same request, found by their ``Content-Location``.

This is the one place where raddx *encodes* an instance it receives (there are no bytes
"as received" to keep): pydicom builds the dataset from the JSON and writes it as Part 10 in
Explicit VR Little Endian with our File Meta; ingest then takes it like any other object.
Only native (uncompressed) bulk data is taken: compressed pixel data would have to be
encapsulated frame by frame from media types such as ``image/jpeg``, which is not done, so
such an instance fails with the reason and the client can send it as ``application/dicom``.
"""

from __future__ import annotations

import io
import json
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from raddx.archive.part10 import IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME
from raddx.errors import InvalidInput
from raddx.web.dicomweb._dataset_xml import xml_to_json

__all__ = ["BulkResolver", "MetadataInstance", "instances_from_metadata"]

#: Returns the bytes of the bulk data part a BulkDataURI names; raises InvalidInput (with
#: the reason) when there is none or it cannot be taken.
BulkResolver = Callable[[str], bytes]

#: Transfer syntaxes whose pixel data is native, so octet-stream bulk data can be written as
#: is. The metadata says which one through (0002,0010), or nothing (PS3.18 8.7.3.3.2: native
#: bulk data is little endian).
_NATIVE = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_TRANSFER_SYNTAX_UID = "00020010"
# pydicom reports doubtful values as warnings; warnings.catch_warnings is process-global
# state, so one metadata instance is decoded at a time.
_DECODE_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class MetadataInstance:
    """One instance of a metadata part: its Part 10 bytes, or the reason it cannot be
    stored. The UIDs are those of the metadata ('' when it has none), for the response."""

    sop_class_uid: str
    sop_instance_uid: str
    data: bytes | None
    problem: str | None = None


def _first_value(item: dict[str, Any], tag: str) -> str:
    element = item.get(tag)
    if not isinstance(element, dict):
        return ""
    values = element.get("Value")
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0].strip()
    return ""


def _datasets(body: bytes, media_type: str) -> list[Any]:
    """The DICOM JSON objects of a metadata part (an array, or one object), from JSON or
    from PS3.19 XML.

    Raises
    ------
    InvalidInput
        Not JSON / XML, or not a dataset or an array of datasets.
    """
    if media_type == "application/dicom+xml":
        try:
            return [xml_to_json(body)]
        except (ET.ParseError, ValueError) as exc:
            raise InvalidInput(f"the {media_type} part is not a PS3.19 document: {exc}") from None
    try:
        decoded = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"the {media_type} part is not JSON: {exc}") from None
    except RecursionError:  # json's decoder recurses per level: "[[[[..." 5,000 deep
        raise InvalidInput(f"the {media_type} part nests too deeply") from None
    if isinstance(decoded, dict):
        return [decoded]
    if isinstance(decoded, list) and decoded:
        return decoded
    raise InvalidInput(
        f"the {media_type} part is not a DICOM JSON dataset or a non-empty array of datasets"
    )


def _encode(item: dict[str, Any], resolve: BulkResolver) -> bytes:
    """Part 10 bytes of one DICOM JSON dataset.

    Raises
    ------
    InvalidInput
        Compressed transfer syntax, a BulkDataURI without its part, a value pydicom cannot
        read or write, or no SOP Class/Instance UID.
    """
    transfer_syntax = _first_value(item, _TRANSFER_SYNTAX_UID) or ExplicitVRLittleEndian
    if transfer_syntax not in _NATIVE:
        raise InvalidInput(
            f"transfer syntax {transfer_syntax}: compressed bulk data is not taken as "
            "metadata + bulk data; send the instance as application/dicom"
        )
    dataset_json = {tag: value for tag, value in item.items() if not tag.startswith("0002")}

    def bulk(tag: str, vr: str, uri: str) -> bytes:
        return resolve(uri)

    with _DECODE_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what pydicom doubts, ingest checks and logs
        try:
            ds = Dataset.from_json(dataset_json, bulk)
        except InvalidInput:
            raise
        except Exception as exc:  # pydicom raises many types on bad JSON values
            raise InvalidInput(f"not a valid DICOM JSON dataset: {exc}") from None
    sop_class, sop_instance = ds.get("SOPClassUID"), ds.get("SOPInstanceUID")
    if not sop_class or not sop_instance:
        raise InvalidInput("the dataset has no SOPClassUID or SOPInstanceUID")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    ds.file_meta = meta
    buffer = io.BytesIO()
    try:
        ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # a value of the wrong type for its VR, and the like
        raise InvalidInput(f"the dataset cannot be encoded: {exc}") from None
    return buffer.getvalue()


def instances_from_metadata(
    body: bytes, media_type: str, resolve: BulkResolver
) -> Iterator[MetadataInstance]:
    """The instances a metadata part describes, built one at a time (so only one
    instance's bulk data is in memory at once).

    Parameters
    ----------
    body
        The metadata part: a DICOM JSON array of datasets (or one dataset), or one PS3.19
        ``NativeDicomModel`` document.
    media_type
        ``application/dicom+json`` or ``application/dicom+xml``.
    resolve
        Bulk data by BulkDataURI (the referenced part's Content-Location).

    Yields
    ------
    MetadataInstance
        One per dataset, with its Part 10 bytes or the reason it cannot be stored. A part
        that is not a dataset at all yields one instance without UIDs and with the reason.
    """
    try:
        items = _datasets(body, media_type)
    except InvalidInput as exc:
        yield MetadataInstance("", "", None, str(exc))
        return
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield MetadataInstance("", "", None, f"dataset {number} is not a JSON object")
            continue
        uids = (_first_value(item, "00080016"), _first_value(item, "00080018"))
        try:
            yield MetadataInstance(*uids, _encode(item, resolve))
        except InvalidInput as exc:
            prefix = f"dataset {number}: " if len(items) > 1 else ""
            yield MetadataInstance(*uids, None, prefix + str(exc))
