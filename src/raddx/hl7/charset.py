"""Character sets of HL7 v2 messages (MSH-18), decoded *before* the message is split.

In ISO-2022-JP the kanji 放 線 施 右 contain the bytes ``|`` ``~`` ``\\`` ``&``: splitting the
bytes on HL7 delimiters first would cut names and descriptions apart. MSH is ASCII up to
MSH-18, so MSH-18 is read from the raw first segment, then the whole message is decoded.
Japanese senders spell ISO-2022-JP ``~ISO IR87`` or ``ISO IR6~ISO IR87`` (IHE-J/JAHIS,
reference note §2); ``UNICODE UTF-8`` is UTF-8. An empty MSH-18 is ASCII (HL7 v2.5 2.15.9.18).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CharsetError", "Header", "decode", "encode", "read_header"]

#: MSH-18 values (repetitions joined by ``~``, blanks removed) → Python codec.
_CODECS = {
    "": "ascii",
    "ASCII": "ascii",
    "ISOIR6": "ascii",
    "~ISOIR87": "iso2022_jp",
    "ISOIR87": "iso2022_jp",
    "ISOIR6~ISOIR87": "iso2022_jp",
    "UNICODEUTF-8": "utf-8",
    "UNICODE": "utf-8",
    "8859/1": "latin-1",
}


class CharsetError(Exception):
    """The message's bytes cannot be read: unknown MSH-18, or bytes invalid in it.

    ``field`` is the HL7 field to name in the ERR segment (MSH-18).
    """

    field = "MSH-18"


@dataclass(frozen=True, slots=True)
class Header:
    """What we can read from the raw MSH before decoding: enough to answer even a message
    we cannot decode (MSH-3/4 sender, MSH-9 type, MSH-10 control ID, MSH-18 charset)."""

    separator: str
    fields: tuple[str, ...]
    charset: str
    codec: str | None

    def field(self, number: int) -> str:
        """MSH-``number`` (MSH-1 is the separator itself, so MSH-n is ``fields[n - 1]``)."""
        if number == 1:
            return self.separator
        return self.fields[number - 1] if number - 1 < len(self.fields) else ""


def read_header(data: bytes) -> Header:
    """Read the MSH segment from raw bytes (ASCII up to MSH-18).

    Raises
    ------
    CharsetError
        Not an HL7 message (no MSH), or an MSH-18 we do not know.
    """
    head = data.lstrip(b"\r\n").split(b"\r", 1)[0].split(b"\n", 1)[0]
    if not head.startswith(b"MSH") or len(head) < 8:
        raise CharsetError("the message does not start with an MSH segment")
    separator = chr(head[3])
    text = head.decode("latin-1")  # positions only; values past MSH-18 are not used
    fields = tuple(text.split(separator))
    charset = fields[17] if len(fields) > 17 else ""
    codec = _CODECS.get(charset.replace(" ", "").upper())
    return Header(separator, fields, charset, codec)


def decode(data: bytes, header: Header) -> str:
    """The whole message as text, in MSH-18's character set.

    Raises
    ------
    CharsetError
        MSH-18 unknown, or the bytes are invalid in it (e.g. Shift_JIS bytes under
        ``~ISO IR87``).
    """
    if header.codec is None:
        raise CharsetError(f"unknown character set {header.charset!r} in MSH-18")
    try:
        return data.decode(header.codec)
    except UnicodeDecodeError as exc:
        raise CharsetError(
            f"byte {exc.start} is not valid in the character set {header.charset or 'ASCII'!r}"
            " of MSH-18"
        ) from None


def encode(text: str, header: Header, *, strict: bool = False) -> bytes:
    """``text`` in ``header``'s character set. An answer (default) turns characters the set
    cannot hold into ``?``; a message we originate (``strict``) is refused instead, since a
    silently altered name or finding must never leave raddx (STYLE rule 5).

    Raises
    ------
    CharsetError
        ``strict`` and MSH-18 is unknown, or a character has no encoding in it (the
        character is named, e.g. 髙 outside JIS X 0208).
    """
    if not strict:
        return text.encode(header.codec or "ascii", errors="replace")
    if header.codec is None:
        raise CharsetError(f"unknown character set {header.charset!r} in MSH-18")
    try:
        return text.encode(header.codec)
    except UnicodeEncodeError as exc:
        raise CharsetError(
            f"{text[exc.start : exc.end]!r} cannot be written in the character set "
            f"{header.charset or 'ASCII'!r} of MSH-18"
        ) from None
