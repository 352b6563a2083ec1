"""C-STORE sub-operations that send the stored bytes (pynetdicom 3.0.4 internals; pinned).

pynetdicom's C-GET and C-MOVE SCPs send each object the handler yields with
``Association.send_c_store``, which encodes a decoded :class:`~pydicom.dataset.Dataset` for
the accepted presentation context. Decoding every stored object with pydicom and encoding it
again was 40 % of a C-GET's time in our profile (``bench/README.md``), and it could alter the
bytes the archive promised to keep exactly as received.

The SCPs insist on a ``Dataset`` (``isinstance`` check; its ``SOPInstanceUID`` goes into the
Failed SOP Instance UID List), and ``send_c_store`` takes a file path only behind the global
``_config.STORE_SEND_CHUNKED_DATASET`` switch, which would also change every other
``send_c_store`` in the process. So the handler yields a :class:`StoredObject`: a ``Dataset``
holding only the two UIDs, its file meta and the stored encoded bytes. :func:`install` wraps
the ``encode`` function ``send_c_store`` calls: for a ``StoredObject`` whose stored encoding is
the one the accepted context asks for, it returns the stored bytes as they are; otherwise it
decodes them and lets pynetdicom encode the result (Explicit ⇄ Implicit VR, inflating a
Deflated object). Compressed objects are never transcoded: pynetdicom's context choice only
converts between uncompressed syntaxes, so a compressed object needs a context in its own
syntax. Every other dataset goes through pynetdicom's encoder unchanged.

``tests/unit/dimse/test_stored_send.py`` fails if a pynetdicom upgrade moves these internals.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from typing import Any

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID

__all__ = ["StoredObject", "install"]

_SOP_CLASS_UID = 0x00080016
_SOP_INSTANCE_UID = 0x00080018
_TRANSFER_SYNTAX_UID = 0x00020010
_TRUSTED: dict[str, Any] = {"validation_mode": config.IGNORE}


class StoredObject(Dataset):
    """A stored object on its way out: the UIDs pynetdicom needs, plus the stored bytes.

    Parameters
    ----------
    part10
        The whole stored Part 10 file.
    dataset_offset
        Where the dataset starts in ``part10`` (after the File Meta Information).
    sop_class_uid, sop_instance_uid, transfer_syntax_uid
        The object's identity and the syntax it is stored in.
    verbatim
        Whether the stored dataset is encoded as ``transfer_syntax_uid`` says; if not, it is
        always decoded and re-encoded.

    Raises
    ------
    ValueError
        ``transfer_syntax_uid`` is not a transfer syntax pydicom knows the encoding of.
    """

    def __init__(
        self,
        part10: bytes,
        *,
        dataset_offset: int,
        sop_class_uid: str,
        sop_instance_uid: str,
        transfer_syntax_uid: str,
        verbatim: bool = True,
    ) -> None:
        super().__init__()
        syntax = UID(transfer_syntax_uid)
        if not syntax.is_transfer_syntax:
            raise ValueError(f"transfer_syntax_uid {transfer_syntax_uid!r} is not known")
        # Built without pydicom's value validation (a fifth of a C-GET sub-operation's own
        # time): the UIDs come from the index and the stored file meta, checked at ingest.
        self[_SOP_CLASS_UID] = DataElement(_SOP_CLASS_UID, "UI", sop_class_uid, **_TRUSTED)
        self[_SOP_INSTANCE_UID] = DataElement(_SOP_INSTANCE_UID, "UI", sop_instance_uid, **_TRUSTED)
        meta = FileMetaDataset()
        meta[_TRANSFER_SYNTAX_UID] = DataElement(_TRANSFER_SYNTAX_UID, "UI", syntax, **_TRUSTED)
        self.file_meta = meta
        # pynetdicom reads the dataset's own encoding from ``original_encoding`` and refuses a
        # mismatch with the file meta; deflate and compression are Explicit VR LE inside.
        self.set_original_encoding(syntax.is_implicit_VR, syntax.is_little_endian, None)
        self._raddx_part10 = part10
        self._raddx_offset = dataset_offset
        self._raddx_encoding = (
            (syntax.is_implicit_VR, syntax.is_little_endian, syntax.is_deflated)
            if verbatim
            else None
        )

    def encoded(self, implicit_vr: bool, little_endian: bool, deflated: bool) -> bytes:
        """The dataset bytes for the requested encoding: the stored ones when they match,
        else decoded and re-encoded by pydicom (the only case that costs a parse)."""
        if (implicit_vr, little_endian, deflated) == self._raddx_encoding:
            return self._raddx_part10[self._raddx_offset :]
        from pynetdicom.dsutils import encode

        decoded = pydicom.dcmread(BytesIO(self._raddx_part10))
        encoded = encode(decoded, implicit_vr, little_endian, deflated)
        if encoded is None:
            raise ValueError("the stored object could not be encoded for the accepted context")
        return encoded


def install() -> None:
    """Make ``Association.send_c_store`` send a :class:`StoredObject`'s bytes. Idempotent."""
    import pynetdicom.association as association

    original: Callable[..., bytes | None] = association.encode  # type: ignore[attr-defined]
    if getattr(original, "_raddx", False):
        return

    def encode(
        ds: Any, is_implicit_vr: bool, is_little_endian: bool, deflated: bool = False
    ) -> bytes | None:
        if isinstance(ds, StoredObject):
            return ds.encoded(is_implicit_vr, is_little_endian, deflated)
        return original(ds, is_implicit_vr, is_little_endian, deflated)

    encode._raddx = True  # type: ignore[attr-defined]
    association.encode = encode  # type: ignore[attr-defined]
