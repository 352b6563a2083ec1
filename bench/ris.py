"""RIS benchmark: HL7 order messages/s over one MLLP connection, and Modality Worklist C-FIND
latency with 10,000 scheduled items (issue 6).

Targets: at least 500 orders/s (ACK awaited per message, as an HIS sends) and an MWL query
median under 20 ms. No peer runs in the same run (Orthanc has no HL7 door and only a file
worklist; dcm4chee is not installed here).

Method: start ``raddx serve`` on empty storage (SQLite, default settings, HL7 on port 2575)
inside a private network namespace (``unshare -n``, as the other benches). Send ``--orders``
OMG^O19 messages in ISO-2022-JP (MSH-18 ``~ISO IR87``, kanji and kana names, a JJ1017-32
code) over one MLLP connection, each waiting for its ORG^O20; every order is one worklist
item, spread over 5 modalities, 3 stations each and 20 days. Then time MWL C-FIND queries
with pynetdicom over one open association (TCP_NODELAY, raddx's 0.2 ms reactor poll on the
client too: stock pynetdicom would add ~1 ms per received item), from request to final response,
``--reps`` times each with a different key per repetition, twice: with a raw-socket client
that decodes only the command sets (as a DCMTK modality reads: the server's figure) and with
pynetdicom's SCU (~1 ms of its own per received item): modality + day (~1 % of the items),
station AE + day, the PatientID of one order, and a kanji name prefix in ISO 2022 IR 87.

Run as root from the repository::

    .venv/bin/python bench/ris.py [--orders N] [--reps N]
"""

from __future__ import annotations

import argparse
import datetime
import io
import os
import shutil
import socket
import statistics
import struct
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import ImplicitVRLittleEndian

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common

WORK = Path(__file__).resolve().parent / "_work"
HL7_PORT = 2575
MODALITIES = ("CT", "MR", "CR", "US", "MG")
JJ_DIGIT = {"CT": "6", "MR": "7", "CR": "1", "US": "9", "MG": "F"}
DAYS = 20
BASE = datetime.date(2026, 12, 1)
KANJI = ("山田", "鈴木", "佐藤", "右田", "放生")
KANA = ("ヤマダ", "スズキ", "サトウ", "ミギタ", "ホウジョウ")


def order_message(i: int) -> bytes:
    """The i-th OMG^O19 in ISO-2022-JP; its item: modality i % 5, station i % 3, day
    (i // 5) % 20 (so every modality has items on every day)."""
    modality = MODALITIES[i % len(MODALITIES)]
    day = BASE + datetime.timedelta(days=(i // len(MODALITIES)) % DAYS)
    family = i % len(KANJI)
    code = JJ_DIGIT[modality] + "000000200020000" + "0" * 16
    segments = [
        f"MSH|^~\\&|HIS|HP|RIS|RADDX|20261126090000||OMG^O19^OMG_O19|B{i}|P|2.5||||||~ISO IR87"
        "||ISO 2022-1994",
        f"PID|||{100000 + i}^^^HP^PI||{KANJI[family]}^太郎{i}^^^^^L^I~{KANA[family]}^タロウ"
        f"^^^^^L^P||19700101|M",
        f"ORC|NW|B{i}^HIS||||||||||D1^放射線^医師|||||01^放射線科",
        f"TQ1|||||||{day:%Y%m%d}{9 + i % 8:02d}0000||R",
        f"OBR|1|B{i}^HIS||{code}^検査 右^JJ1017-32|||||||||||||||||||{modality}",
        "IPC" + "|" * 9 + f"{modality}0{i % 3}",  # IPC-9: the scheduled station AE
    ]
    return "\r".join(segments).encode("iso2022_jp")


def send_orders(count: int) -> tuple[float, list[float]]:
    """Seconds for all orders over one connection, and each order's round trip."""
    sock = socket.create_connection((common.HOST, HL7_PORT), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    messages = [b"\x0b" + order_message(i) + b"\x1c\r" for i in range(count)]
    times: list[float] = []
    started = time.perf_counter()
    with sock:
        for i, message in enumerate(messages):
            t0 = time.perf_counter()
            sock.sendall(message)
            answer = b""
            while not answer.endswith(b"\x1c\r"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise common.ServerError("MLLP connection closed")
                answer += chunk
            times.append(time.perf_counter() - t0)
            if b"MSA|AA|" not in answer:
                raise common.ServerError(f"order {i} not accepted: {answer[:300]!r}")
    return time.perf_counter() - started, times


class WorklistClient:
    """One pynetdicom association kept open; times each MWL C-FIND round trip."""

    def __init__(self) -> None:
        from pynetdicom import AE

        from raddx.dimse._tuning import apply_reactor_tuning

        # pynetdicom's own reactor sleeps 1 ms between reads, so a stock pynetdicom SCU adds
        # ~1 ms per worklist item it receives; DCMTK-based modalities read blocking. Give the
        # client the poll raddx's server uses, so the figure is the server's.
        apply_reactor_tuning(0.0002)
        from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

        self.model = ModalityWorklistInformationFind
        ae = AE(ae_title=common.CLIENT_AET)
        ae.add_requested_context(self.model)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 120
        self.assoc = ae.associate(common.HOST, common.RADDX_PORT, ae_title=common.RADDX_AET)
        if not self.assoc.is_established:
            raise common.ServerError("MWL association rejected or aborted")
        self.assoc.dul.socket.socket.setsockopt(  # type: ignore[union-attr]
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )

    def find(self, top: dict[str, object], step: dict[str, str]) -> tuple[float, int]:
        ds = _identifier(top, step)
        started = time.perf_counter()
        matches, final = 0, None
        for status, identifier in self.assoc.send_c_find(ds, self.model):
            if status is None:
                raise common.ServerError("MWL C-FIND timed out or aborted")
            if status.Status == 0xFF00:
                matches += identifier is not None
            else:
                final = status.Status
        if final != 0x0000:
            raise common.ServerError(f"MWL C-FIND final status {final}")
        return time.perf_counter() - started, matches

    def close(self) -> None:
        self.assoc.release()


class RawWorklistClient:
    """A minimal requestor on a plain socket: the C-FIND-RQ is encoded once per query with
    pynetdicom's codecs, the answers are read PDU by PDU and only their command sets decoded.

    It stands in for a modality's DCMTK-style blocking reader, so the time is the server's
    plus one loopback round trip; pynetdicom's SCU (:class:`WorklistClient`) spends ~1 ms
    per item on its own side, which multi-item queries showed as server time before."""

    def __init__(self) -> None:
        from pynetdicom.pdu import A_ASSOCIATE_RQ
        from pynetdicom.pdu_primitives import A_ASSOCIATE, MaximumLengthNotification
        from pynetdicom.presentation import build_context
        from pynetdicom.sop_class import ModalityWorklistInformationFind  # type: ignore[attr-defined]

        primitive = A_ASSOCIATE()
        primitive.application_context_name = "1.2.840.10008.3.1.1.1"
        primitive.calling_ae_title = common.CLIENT_AET
        primitive.called_ae_title = common.RADDX_AET
        context = build_context(ModalityWorklistInformationFind, ImplicitVRLittleEndian)
        context.context_id = 1
        primitive.presentation_context_definition_list = [context]
        maximum = MaximumLengthNotification()
        maximum.maximum_length_received = 0
        primitive.user_information = [maximum]
        pdu = A_ASSOCIATE_RQ()
        pdu.from_primitive(primitive)
        self.model = ModalityWorklistInformationFind
        self.sock = socket.create_connection((common.HOST, common.RADDX_PORT), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(pdu.encode())
        if self._pdu()[0] != 0x02:
            raise common.ServerError("MWL association rejected")
        self.message_id = 0

    def _read(self, length: int) -> bytes:
        data = bytearray()
        while len(data) < length:
            chunk = self.sock.recv(length - len(data))
            if not chunk:
                raise common.ServerError("MWL connection closed")
            data += chunk
        return bytes(data)

    def _pdu(self) -> tuple[int, bytes]:
        pdu_type, length = struct.unpack(">BxI", self._read(6))
        return pdu_type, self._read(length)

    def find(self, top: dict[str, object], step: dict[str, str]) -> tuple[float, int]:
        from pynetdicom.dsutils import decode, encode

        command = Dataset()
        command.AffectedSOPClassUID = self.model
        command.CommandField = 0x0020
        self.message_id += 1
        command.MessageID = self.message_id
        command.Priority = 0
        command.CommandDataSetType = 0x0001
        body = _identifier(top, step)
        cmd = encode(command, True, True)
        data = encode(body, True, True)
        assert cmd is not None and data is not None
        cmd = _with_group_length(cmd)
        pdvs = struct.pack(">IBB", len(cmd) + 2, 1, 0x03) + cmd
        pdvs += struct.pack(">IBB", len(data) + 2, 1, 0x02) + data
        started = time.perf_counter()
        self.sock.sendall(struct.pack(">BxI", 0x04, len(pdvs)) + pdvs)
        matches, command_bytes = 0, b""
        while True:
            pdu_type, pdu = self._pdu()
            if pdu_type != 0x04:
                raise common.ServerError(f"unexpected PDU type 0x{pdu_type:02x}")
            offset = 0
            while offset < len(pdu):
                length, _, control = struct.unpack_from(">IBB", pdu, offset)
                value = pdu[offset + 6 : offset + 4 + length]
                offset += 4 + length
                if not control & 0x01:
                    continue
                command_bytes += value
                if not control & 0x02:
                    continue
                status = decode(io.BytesIO(command_bytes), True, True).Status
                command_bytes = b""
                if status in (0xFF00, 0xFF01):
                    matches += 1
                elif status == 0x0000:
                    return time.perf_counter() - started, matches
                else:
                    raise common.ServerError(f"MWL C-FIND final status 0x{status:04X}")

    def close(self) -> None:
        self.sock.sendall(b"\x05\x00\x00\x00\x00\x04\x00\x00\x00\x00")
        self.sock.close()


def _with_group_length(command: bytes) -> bytes:
    """The command set with its (0000,0000) CommandGroupLength element in front (PS3.7 E.1)."""
    return struct.pack("<HHII", 0, 0, 4, len(command)) + command


def _identifier(top: dict[str, object], step: dict[str, str]) -> Dataset:
    """The MWL query: patient/order return keys, ``top`` matching keys and one
    ScheduledProcedureStepSequence item holding ``step``."""
    ds = Dataset()
    for keyword in ("PatientName", "PatientID", "AccessionNumber", "StudyInstanceUID"):
        setattr(ds, keyword, "")
    for keyword, value in top.items():
        setattr(ds, keyword, value)
    item = Dataset()
    for keyword in (
        "Modality",
        "ScheduledStationAETitle",
        "ScheduledProcedureStepStartDate",
        "ScheduledProcedureStepStartTime",
        "ScheduledProcedureStepID",
    ):
        setattr(item, keyword, step.get(keyword, ""))
    item.ScheduledProtocolCodeSequence = DicomSequence([])
    ds.ScheduledProcedureStepSequence = DicomSequence([item])
    return ds


def queries(orders: int, rep: int) -> dict[str, tuple[dict[str, object], dict[str, str]]]:
    day = f"{BASE + datetime.timedelta(days=rep % DAYS):%Y%m%d}"
    modality = MODALITIES[rep % len(MODALITIES)]
    return {
        "modality + day": ({}, {"Modality": modality, "ScheduledProcedureStepStartDate": day}),
        "station AE + day": (
            {},
            {
                "ScheduledStationAETitle": f"{modality}0{rep % 3}",
                "ScheduledProcedureStepStartDate": day,
            },
        ),
        "PatientID": ({"PatientID": str(100000 + (rep * 7919) % orders)}, {}),
        "kanji name prefix (IR 87)": (
            {
                "SpecificCharacterSet": ["", "ISO 2022 IR 87"],
                "PatientName": f"={KANJI[rep % len(KANJI)]}^太郎{rep % 10}1*",
            },
            {},
        ),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000, help="orders = worklist items")
    parser.add_argument(
        "--reps", type=int, default=50, help="repetitions of each MWL query (0: orders only)"
    )
    parser.add_argument(
        "--raddx-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra setting for raddx serve (repeatable), e.g. RADDX_HL7_SQLITE_SYNCHRONOUS=NORMAL",
    )
    args = parser.parse_args(argv)
    for item in args.raddx_env:
        if "=" not in item or not item.startswith("RADDX_"):
            parser.error(f"--raddx-env {item!r}: expected RADDX_KEY=VALUE")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.environ.get(common.NETNS_MARKER) != "1":
        common.reexec_in_netns()
    common.loopback_up()
    env = {"RADDX_HL7_PORT": str(HL7_PORT), **dict(i.split("=", 1) for i in args.raddx_env)}
    server = common.Raddx(env)
    run, logs = WORK / "risrun", WORK / "rislogs" / "raddx.log"
    shutil.rmtree(run, ignore_errors=True)
    shutil.rmtree(logs.parent, ignore_errors=True)
    run.mkdir(parents=True)
    logs.parent.mkdir(parents=True)
    problems: list[str] = []
    server.start(run, logs)
    try:
        cpu0 = common.session_cpu_seconds(server.session)
        total, times = send_orders(args.orders)
        server_cpu = common.session_cpu_seconds(server.session) - cpu0
        latencies: dict[tuple[str, str], list[float]] = {}
        counts: dict[str, list[int]] = {}
        clients = (("raw", RawWorklistClient), ("pynetdicom", WorklistClient))
        for label, factory in clients if args.reps > 0 else ():
            client = factory()
            for rep in range(args.reps):
                for name, (top, step) in queries(args.orders, rep).items():
                    elapsed, matches = client.find(top, step)
                    latencies.setdefault((name, label), []).append(elapsed)
                    if label == "raw":
                        counts.setdefault(name, []).append(matches)
                    elif matches != counts[name][rep]:
                        problems.append(
                            f"{name} rep {rep}: pynetdicom SCU counted {matches} matches, "
                            f"the raw client {counts[name][rep]}"
                        )
            client.close()
    finally:
        server.stop(problems)
    print(common.machine_report([server], env))
    rate = args.orders / total
    print(f"\n## HL7 orders over one MLLP connection ({args.orders} OMG^O19, ISO-2022-JP)")
    print("Server CPU per order: raddx's processes' user + system time over the run (a figure")
    print("that load on the host does not inflate, unlike the rate).")
    print("| orders/s | median ms | p95 ms | server CPU ms/order | target |")
    print("|---:|---:|---:|---:|---|")
    print(
        f"| {rate:.0f} | {statistics.median(times) * 1000:.2f} | {common.p95(times) * 1000:.2f} "
        f"| {server_cpu / args.orders * 1000:.2f} | ≥ 500/s {'met' if rate >= 500 else 'NOT met'} |"
    )
    if args.reps == 0:
        print("\nproblems:", *problems, sep="\n- ") if problems else None
        return 1 if problems else 0
    print(f"\n## MWL C-FIND with {args.orders} scheduled items ({args.reps} reps each)")
    print("Median (p95) ms per query, request to final response, by client.")
    print("| query | matches (median) | raw socket | pynetdicom SCU | target < 20 ms (raw) |")
    print("|---|---:|---:|---:|---|")
    for name, matched in counts.items():
        raw, pyn = latencies[(name, "raw")], latencies[(name, "pynetdicom")]
        median = statistics.median(raw) * 1000
        print(
            f"| {name} | {statistics.median(matched):.0f} "
            f"| {median:.2f} ({common.p95(raw) * 1000:.2f}) "
            f"| {statistics.median(pyn) * 1000:.2f} ({common.p95(pyn) * 1000:.2f}) "
            f"| {'met' if median < 20 else 'NOT met'} |"
        )
    if problems:
        print("\nproblems:", *problems, sep="\n- ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
