"""``raddx reindex``: objects indexed without their sequence items (stored before index
revision 0003) become findable by sequence keys again; SQLite and PostgreSQL."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from sqlalchemy import delete, func, select
from typer.testing import CliRunner

from dicom_factory import make_dataset, to_part10
from raddx.archive.query import InformationModelValues, Query, find
from raddx.archive.reindex import ReindexReport, reindex
from raddx.cli import app
from raddx.db.models import Instance, ProcedureCode, RequestAttributes
from raddx.services import Services


def _item(**values: str) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _store(services: Services, patient_id: str, code: str) -> Dataset:
    ds = make_dataset(patient_id=patient_id, charset="ISO_IR 192")
    ds.ProcedureCodeSequence = Sequence(
        [_item(CodeValue=code, CodingSchemeDesignator="JJ1017", CodeMeaning="胸部CT")]
    )
    ds.RequestAttributesSequence = Sequence(
        [_item(RequestedProcedureID=f"RP-{patient_id}", ScheduledProcedureStepID="SPS1")]
    )
    services.ingest.store(to_part10(ds), source="test")
    return ds


def _studies_with_code(services: Services, code: str) -> list[str]:
    query = Query(
        level="STUDY",
        information_model=InformationModelValues.STUDY_ROOT,
        keys={"StudyInstanceUID": None, "ProcedureCodeSequence": [{"CodeValue": code}]},
    )
    with services.session_factory() as session:
        return [a["StudyInstanceUID"] for a in find(query, session=session)]


def _forget_items(services: Services) -> None:
    """The index as revision 0002 left it: no item rows."""
    with services.session_factory() as session, session.begin():
        session.execute(delete(ProcedureCode))
        session.execute(delete(RequestAttributes))


def _run(services: Services, *, dry_run: bool = False) -> ReindexReport:
    return reindex(
        session_factory=services.session_factory,
        engine=services.engine,
        blobs=services.blobs,
        dry_run=dry_run,
    )


def _item_rows(services: Services) -> int:
    with services.session_factory() as session:
        codes = session.scalar(select(func.count()).select_from(ProcedureCode)) or 0
        requests = session.scalar(select(func.count()).select_from(RequestAttributes)) or 0
        return int(codes) + int(requests)


def test_reindex_restores_sequence_items_once(services: Services) -> None:
    first = _store(services, "P1", "32000000")
    second = _store(services, "P2", "32000000")
    assert len(_studies_with_code(services, "32000000")) == 2
    _forget_items(services)
    assert _studies_with_code(services, "32000000") == []

    preview = _run(services, dry_run=True)
    assert (preview.instances, preview.items_added, preview.unreadable) == (2, 4, 0)
    assert _item_rows(services) == 0  # a dry run writes nothing

    report = _run(services)
    assert (report.instances, report.items_added, report.unreadable) == (2, 4, 0)
    assert sorted(_studies_with_code(services, "32000000")) == sorted(
        [first.StudyInstanceUID, second.StudyInstanceUID]
    )
    again = _run(services)
    assert again.items_added == 0
    assert _item_rows(services) == 4


def test_unreadable_object_is_counted_and_the_rest_reindexed(services: Services) -> None:
    kept = _store(services, "P1", "1111")
    lost = _store(services, "P2", "2222")
    _forget_items(services)
    with services.session_factory() as session:
        key = session.scalar(
            select(Instance.blob_key).where(Instance.sop_instance_uid == lost.SOPInstanceUID)
        )
    assert key is not None
    services.blobs.delete(key)
    report = _run(services)
    assert (report.instances, report.unreadable) == (2, 1)
    assert _studies_with_code(services, "1111") == [kept.StudyInstanceUID]


def test_cli_reports_what_it_did(services: Services) -> None:
    _store(services, "P1", "32000000")
    _forget_items(services)
    settings = services.settings
    args = ["--data-dir", str(settings.data_dir), "--database-url", settings.resolved_database_url]
    dry = CliRunner().invoke(app, ["reindex", *args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would add 2 sequence item(s)" in dry.output
    done = CliRunner().invoke(app, ["reindex", *args])
    assert done.exit_code == 0, done.output
    assert "1 object(s) read; added 2 sequence item(s); 0 object(s) unreadable" in done.output
    assert len(_studies_with_code(services, "32000000")) == 1
