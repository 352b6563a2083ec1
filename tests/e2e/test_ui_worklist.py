"""The worklist area (issue 10 §3) in a real browser: raddx over real HTTP and a real DIMSE
door, a technologist in Chromium (``ui/e2e/worklist.mjs``) entering an order by hand for a
Japanese patient (kanji + kana), seeing it in today's worklist, and the row following the
modality's MPPS (IN PROGRESS, then COMPLETED, sent here with a pynetdicom MPPS SCU) without a
reload; a modality and a station filter; cancelling a step and an order; a bad date refused
next to the field with nothing created; a viewer without orders.write refused. Screenshots go
to ``build/e2e-screenshots/worklist/``."""

from __future__ import annotations

import datetime as dt
import queue
import subprocess
import threading
from collections.abc import Iterator

import httpx
import pytest
from e2e_support import ROOT, add_user, screenshots
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid
from pynetdicom import AE
from pynetdicom.sop_class import ModalityPerformedProcedureStep  # type: ignore[attr-defined]

from helpers import bare_url, start_dimse_server
from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order
from raddx.ris.jj1017_master import MasterEntry, import_master
from raddx.ris.worklist_items import StepRow, list_steps
from raddx.services import Services

TECH, TECH_PASSWORD = "tech-kato", "correct horse battery staple 9"
VIEWER, VIEWER_PASSWORD = "clinic-ito", "another long passphrase 10"
CT_CHEST = "6000000200000000" + "0" * 16
MR_HEAD = "7000000100000000" + "0" * 16


def _seed(services: Services, today: str) -> None:
    """The JJ1017 master and two orders for today (an MR and a CR)."""
    with services.session_factory() as session, session.begin():
        import_master(
            [
                MasterEntry(1, CT_CHEST, "胸部単純CT", "キョウブタンジュンCT", None, "CT"),
                MasterEntry(2, MR_HEAD, "頭部MRI", "トウブMRI", None, "MR"),
            ],
            [],
            session=session,
            source="test",
        )
        for patient, name, modality, time, station, room, code in (
            (
                "JP200",
                "Suzuki^Ichiro=鈴木^一郎=スズキ^イチロウ",
                "MR",
                "0800",
                "MR01",
                "MR室",
                MR_HEAD,
            ),
            ("JP300", "Tanaka^Yoko=田中^洋子=タナカ^ヨウコ", "CR", "1100", "CR01", None, None),
        ):
            procedure = ProcedureCreate(
                modality=modality,
                scheduled_start_date=today,
                scheduled_start_time=time,
                jj1017_code=code,
                scheduled_station_ae_title=station,
                scheduled_station_name=room,
            )
            place_order(
                OrderCreate(patient=PatientData(patient, "", name), procedures=(procedure,)),
                session=session,
            )


def _step_of(services: Services, patient_id: str) -> StepRow:
    with services.session_factory() as session:
        (step,) = [s for s in list_steps(session=session) if s.patient_id == patient_id]
    return step


class _Modality:
    """A CT modality's MPPS SCU (pynetdicom) talking to raddx's DIMSE door."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.uid = generate_uid()

    def _send(self, step: StepRow, status: str) -> int:
        ae = AE(ae_title="CT01")
        ae.add_requested_context(ModalityPerformedProcedureStep)
        assoc = ae.associate(*self.address, ae_title="RADDX")
        assert assoc.is_established
        try:
            if status == "IN PROGRESS":
                answer, _ = assoc.send_n_create(
                    self._create(step), ModalityPerformedProcedureStep, self.uid
                )
            else:
                now = dt.datetime.now()
                change = Dataset()
                change.PerformedProcedureStepStatus = status
                change.PerformedProcedureStepEndDate = now.strftime("%Y%m%d")
                change.PerformedProcedureStepEndTime = now.strftime("%H%M%S")
                answer, _ = assoc.send_n_set(change, ModalityPerformedProcedureStep, self.uid)
        finally:
            assoc.release()
        return int(answer.Status)

    @staticmethod
    def _create(step: StepRow) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        item = Dataset()
        item.StudyInstanceUID = step.study_instance_uid
        item.ScheduledProcedureStepID = step.scheduled_procedure_step_id
        item.AccessionNumber = step.accession_number
        item.ReferencedStudySequence = Sequence([])
        ds.ScheduledStepAttributesSequence = Sequence([item])
        ds.PatientName = step.patient_name
        ds.PatientID = step.patient_id
        ds.PerformedProcedureStepID = "PPS-E2E"
        ds.PerformedStationAETitle = "CT01"
        now = dt.datetime.now()
        ds.PerformedProcedureStepStartDate = now.strftime("%Y%m%d")
        ds.PerformedProcedureStepStartTime = now.strftime("%H%M%S")
        ds.PerformedProcedureStepStatus = "IN PROGRESS"
        ds.Modality = "CT"
        ds.PerformedProcedureStepEndDate = ""
        ds.PerformedProcedureStepEndTime = ""
        ds.PerformedSeriesSequence = Sequence([])
        return ds

    def start(self, step: StepRow) -> int:
        return self._send(step, "IN PROGRESS")

    def complete(self, step: StepRow) -> int:
        return self._send(step, "COMPLETED")


@pytest.fixture
def modality(services: Services) -> Iterator[_Modality]:
    server = start_dimse_server(services)
    yield _Modality(server.address)
    server.stop()


def _drive(args: list[str], on_wait: dict[str, object], timeout: float = 300) -> str:
    """Run the scenario; each ``wait: <what>`` line it prints runs ``on_wait[what]()`` and
    answers ``go`` on its stdin. Returns everything it printed."""
    proc = subprocess.Popen(
        ["node", str(ROOT / "ui" / "e2e" / "worklist.mjs"), *args],
        cwd=ROOT / "ui",
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()
    stdout = proc.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    output: list[str] = []
    deadline = dt.datetime.now() + dt.timedelta(seconds=timeout)
    try:
        while True:
            left = (deadline - dt.datetime.now()).total_seconds()
            assert left > 0, "scenario timed out:\n" + "".join(output)
            line = lines.get(timeout=left)
            if line is None:
                break
            output.append(line)
            if line.startswith("wait: "):
                action = on_wait[line.removeprefix("wait: ").strip()]
                action()  # type: ignore[operator]
                proc.stdin.write("go\n")
                proc.stdin.flush()
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdin.close()
        stdout.close()
    text = "".join(output)
    assert code == 0, text
    return text


def test_worklist_in_chromium(
    e2e_ready: None, services: Services, http_url: str, modality: _Modality
) -> None:
    add_user(services, TECH, "technologist", TECH_PASSWORD)
    add_user(services, VIEWER, "viewer", VIEWER_PASSWORD)
    today = dt.date.today()
    _seed(services, today.strftime("%Y%m%d"))
    base = bare_url(http_url)
    shots = screenshots("worklist")
    statuses: list[int] = []

    def started() -> None:
        statuses.append(modality.start(_step_of(services, "JP100")))

    def completed() -> None:
        statuses.append(modality.complete(_step_of(services, "JP100")))

    output = _drive(
        [base, TECH, TECH_PASSWORD, str(shots), VIEWER, VIEWER_PASSWORD, today.isoformat()],
        {"mpps-in-progress": started, "mpps-completed": completed},
    )
    assert statuses == [0x0000, 0x0000], output
    for check in (
        "ok: the worklist opens on today",
        "ok: a row shows the kanji name",
        "ok: the procedure is the JJ1017 master's name",
        "ok: every worklist input has a label",
        "ok: looking up a known patient ID fills in the kanji and kana names",
        "ok: looking up an unknown patient ID says to enter a new patient, fields cleared",
        "ok: every order form input has a label",
        "ok: the API's reason is shown next to the date field",
        "ok: a bad date creates no order",
        "ok: the new order's row shows the kanji name",
        "ok: and the kana entered by hand",
        "ok: the new order is scheduled",
        "ok: MPPS IN PROGRESS shows the row in progress",
        "ok: the change is announced in the polite live region",
        "ok: MPPS COMPLETED shows the row completed",
        "ok: without reloading the page",
        "ok: the MR filter hides the other rows",
        "ok: the station filter keeps the CT room's row",
        "ok: ArrowDown moves to the next row",
        "ok: dismissing the confirmation keeps the step",
        "ok: a confirmed cancel cancels the step",
        "ok: cancelling the whole order cancels its step",
        "ok: a viewer has no order-entry button",
        "ok: opening the order form directly is refused",
        "ok: a viewer's direct POST /api/orders is refused (403)",
        "ok: no script errors",
    ):
        assert check in output, output
    # What the browser showed is what the RIS holds.
    entered = _step_of(services, "JP100")
    assert entered.patient_name == "Yamada^Hanako=山田^花子=ヤマダ^ハナコ"
    assert entered.scheduled_procedure_step_status == "COMPLETED"
    assert entered.order_status == "COMPLETED"
    assert (entered.jj1017_code, entered.requested_procedure_priority) == (CT_CHEST, "STAT")
    assert (entered.scheduled_station_ae_title, entered.scheduled_station_name) == ("CT01", "CT室1")
    assert entered.scheduled_start_time == "103000"
    assert _step_of(services, "JP200").scheduled_procedure_step_status == "CANCELED"
    assert _step_of(services, "JP300").order_status == "CANCELLED"
    # The viewer's refused POST created nothing.
    with services.session_factory() as session:
        assert sorted(s.patient_id for s in list_steps(session=session)) == [
            "JP100",
            "JP200",
            "JP300",
        ]
    assert httpx.get(f"{base}/ui/").status_code == 200
    assert sorted(p.name for p in shots.glob("*.png")) == [
        "01-worklist-today.png",
        "02-order-bad-date.png",
        "03-worklist-new-order.png",
        "04-worklist-mpps-completed.png",
        "05-worklist-cancelled.png",
        "06-worklist-english.png",
        "07-viewer-refused.png",
    ]
