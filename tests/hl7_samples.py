"""Realistic Japanese HL7 v2.5 order and ADT messages (IHE-J / JAHIS flavour), written for
raddx's tests. Encoded as ISO-2022-JP (MSH-18 ``~ISO IR87``) their kanji collide with the HL7
delimiters: 放 contains ``|``, 線 ``~``, 施 ``\\`` and 右 ``&`` — a parser that splits before
decoding cuts these values apart.
"""

from __future__ import annotations

CHEST_CT = "6000000200020000" + "2800000000000000"
CHEST_XR_PA = "1100000200010100" + "0000000000000000"
CHEST_XR_LAT = "1100000200010700" + "0000000000000000"
IR87 = "~ISO IR87"
UTF8 = "UNICODE UTF-8"


def segment(name: str, fields: dict[int, str]) -> str:
    """One segment from field number → value (MSH counts MSH-1 as the separator)."""
    last = max(fields)
    if name == "MSH":
        values = ["MSH", "^~\\&", *(fields.get(n, "") for n in range(3, last + 1))]
        return "|".join(values)
    return "|".join([name, *(fields.get(n, "") for n in range(1, last + 1))])


def msh(message_type: str, control_id: str, charset: str = IR87) -> str:
    fields = {3: "HIS", 4: "TOKYO-HP", 5: "RIS", 6: "RADDX", 7: "20261126085900"}
    fields |= {9: message_type, 10: control_id, 11: "P", 12: "2.5", 18: charset}
    if charset == IR87:
        fields[20] = "ISO 2022-1994"
    return segment("MSH", fields)


def pid(
    patient_id: str = "0012345",
    kanji: str = "右田^施^^^^^L^I",
    kana: str = "ミギタ^ホドコシ^^^^^L^P",
    birth: str = "19650401",
) -> str:
    ids = f"{patient_id}^^^TOKYO-HP^PI" if patient_id else ""
    return segment("PID", {1: "0001", 3: ids, 5: f"{kanji}~{kana}", 7: birth, 8: "F"})


def omg(
    placer: str = "ORD0001",
    *,
    code: str = CHEST_CT,
    start: str = "20261126093000",
    pid_segment: str | None = None,
    control: str = "NW",
    charset: str = IR87,
    control_id: str = "MSG0001",
) -> str:
    """An OMG^O19 chest CT order from the 放射線科 ordering department."""
    return "\r".join(
        [
            msh("OMG^O19^OMG_O19", control_id, charset),
            pid_segment if pid_segment is not None else pid(),
            segment("PV1", {1: "0001", 2: "O"}),
            segment(
                "ORC",
                {
                    1: control,
                    2: f"{placer}^HIS",
                    9: "20261126085900",
                    12: "D001^放射線^花子",
                    17: "01^放射線科^99Z01",
                },
            ),
            segment("TQ1", {1: "1", 7: start, 9: "R"}),
            segment(
                "OBR",
                {
                    1: "1",
                    2: f"{placer}^HIS",
                    4: f"{code}^胸部単純CT 右肺^JJ1017-32",
                    24: "CT",
                    31: "^右肺結節の精査（施設紹介）",
                },
            ),
        ]
    )


def omg_parent_children(placer: str = "ORD0002") -> str:
    """A JAHIS parent order (chest X-ray) with two child procedures (PA and lateral)."""
    children = []
    for n, (code, text) in enumerate(
        [(CHEST_XR_PA, "胸部単純 正面"), (CHEST_XR_LAT, "胸部単純 右側面")], start=1
    ):
        children += [
            segment("ORC", {1: "CH", 2: f"{placer}-{n}^HIS", 8: f"{placer}^HIS"}),
            segment("OBR", {1: str(n + 1), 2: f"{placer}-{n}^HIS", 4: f"{code}^{text}^JJ1017-32"}),
        ]
    return "\r".join(
        [
            msh("OMG^O19^OMG_O19", "MSG0002"),
            pid(),
            segment("ORC", {1: "NW", 2: f"{placer}^HIS", 12: "D002^放射線^次郎"}),
            segment("TQ1", {1: "1", 7: "20261127100000", 9: "S"}),
            segment("OBR", {1: "1", 2: f"{placer}^HIS", 4: "X001^胸部X線^99HIS"}),
            *children,
        ]
    )


def adt(trigger: str, pid_segment: str | None = None, mrg: str | None = None) -> str:
    segments = [msh(f"ADT^{trigger}^ADT_A01", f"ADT{trigger}"), pid_segment or pid()]
    if mrg is not None:
        segments.append(segment("MRG", {1: f"{mrg}^^^TOKYO-HP^PI"}))
    return "\r".join(segments)


def encode(message: str, charset: str = IR87) -> bytes:
    """The message bytes as the sender puts them on the wire."""
    return message.encode("iso2022_jp" if charset == IR87 else "utf-8")
