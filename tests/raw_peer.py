"""A DICOM requestor that speaks PS3.8 by hand, one PDU at a time.

Real tools (DCMTK, pynetdicom) never fragment messages oddly, break the protocol, or send a
C-CANCEL-RQ in the same write as its request; the tests that need those cases use this peer.
"""

from __future__ import annotations

import socket
import struct
from io import BytesIO

from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom.dsutils import decode, encode
from pynetdicom.pdu import A_ASSOCIATE_RQ
from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
from pynetdicom.presentation import build_context
from pynetdicom.sop_class import CTImageStorage

__all__ = ["RawPeer", "associate_rq_bytes"]


def associate_rq_bytes(max_pdu: int = 0, abstract: str = CTImageStorage) -> bytes:
    """An A-ASSOCIATE-RQ proposing ``abstract`` in Explicit VR LE as context 1."""
    primitive = A_ASSOCIATE()
    primitive.application_context_name = "1.2.840.10008.3.1.1.1"
    primitive.calling_ae_title = "RAWPEER"
    primitive.called_ae_title = "RADDX"
    context = build_context(abstract, ExplicitVRLittleEndian)
    context.context_id = 1
    primitive.presentation_context_definition_list = [context]
    maximum = MaximumLengthNotification()
    maximum.maximum_length_received = max_pdu
    primitive.user_information = [maximum]
    pdu = A_ASSOCIATE_RQ()
    pdu.from_primitive(primitive)
    return pdu.encode()


def p_data(*pdvs: tuple[int, int, bytes]) -> bytes:
    """One P-DATA-TF PDU holding ``(context id, control header, value)`` PDVs."""
    body = b"".join(struct.pack(">IBB", len(v) + 2, cx, control) + v for cx, control, v in pdvs)
    return struct.pack(">BxI", 0x04, len(body)) + body


class RawPeer:
    """A requestor with one accepted context (ID 1, Explicit VR Little Endian)."""

    def __init__(self, port: int, *, max_pdu: int = 0, abstract: str = CTImageStorage) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.sendall(associate_rq_bytes(max_pdu, abstract))
        pdu_type, _ = self.read_pdu()
        assert pdu_type == 0x02, "association not accepted"

    def close(self) -> None:
        self.sock.close()

    def _read(self, length: int) -> bytes:
        data = b""
        while len(data) < length:
            chunk = self.sock.recv(length - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def read_pdu(self) -> tuple[int, bytes]:
        pdu_type, length = struct.unpack(">BxI", self._read(6))
        return pdu_type, self._read(length)

    def send_pdu(self, *pdvs: tuple[int, int, bytes]) -> None:
        """One P-DATA-TF PDU holding ``(context id, control header, value)`` PDVs."""
        self.sock.sendall(p_data(*pdvs))

    def read_response(self) -> tuple[Dataset, list[int]]:
        """The next command set, and the length of every PDU it came in."""
        command, lengths = b"", []
        while True:
            pdu_type, body = self.read_pdu()
            assert pdu_type == 0x04, f"expected P-DATA, got PDU type 0x{pdu_type:02x}"
            lengths.append(len(body))
            offset = 0
            while offset < len(body):
                item_length, _, control = struct.unpack_from(">IBB", body, offset)
                command += body[offset + 6 : offset + 4 + item_length]
                offset += 4 + item_length
                if control & 0x02:
                    return decode(BytesIO(command), True, True), lengths

    def read_message(self) -> tuple[Dataset, Dataset | None]:
        """The next message: command set and data set (``None`` when it has none)."""
        command, data = b"", b""
        while True:
            pdu_type, body = self.read_pdu()
            assert pdu_type == 0x04, f"expected P-DATA, got PDU type 0x{pdu_type:02x}"
            offset = 0
            while offset < len(body):
                item_length, _, control = struct.unpack_from(">IBB", body, offset)
                value = body[offset + 6 : offset + 4 + item_length]
                offset += 4 + item_length
                if control & 0x01:
                    command += value
                    if control & 0x02:
                        parsed = decode(BytesIO(command), True, True)
                        if parsed.CommandDataSetType == 0x0101:
                            return parsed, None
                else:
                    data += value
                    if control & 0x02:
                        return decode(BytesIO(command), True, True), decode(
                            BytesIO(data), False, True
                        )

    @staticmethod
    def dataset_bytes(ds: Dataset) -> bytes:
        """``ds`` encoded for context 1 (Explicit VR Little Endian)."""
        encoded = encode(ds, False, True)
        assert encoded is not None
        return encoded

    def release(self) -> None:
        self.sock.sendall(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        assert self.read_pdu()[0] == 0x06
        self.close()
