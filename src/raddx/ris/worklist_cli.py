"""``raddx worklist`` (list, add, cancel scheduled steps) and ``raddx reconcile`` (unmatched
studies, fix one) — the CLI doors of :mod:`raddx.ris.worklist_items` and
:mod:`raddx.ris.reconcile` (issue 6 §6, §8)."""

from __future__ import annotations

from typing import Annotated

import typer

from raddx._cli_options import DatabaseUrl, DataDir, cli_services

__all__ = ["reconcile_app", "worklist_app"]

worklist_app = typer.Typer(
    help="Modality Worklist items (scheduled procedure steps): list, add to an order, cancel.",
    no_args_is_help=True,
)
reconcile_app = typer.Typer(
    help="Stored studies no order claims, and fixing one (headers and index are corrected).",
    no_args_is_help=True,
)


@worklist_app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(help="SCHEDULED, STARTED, COMPLETED, DISCONTINUED or CANCELED."),
    ] = None,
    modality: Annotated[str | None, typer.Option(help="Only this modality, e.g. CT.")] = None,
    station: Annotated[str | None, typer.Option(help="Only this station AE title.")] = None,
    date: Annotated[str | None, typer.Option(help="Only this start date, YYYYMMDD.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One line per step, by scheduled start: SPS ID, status, modality, station, start,
    accession, patient ID and name."""
    from raddx.ris.worklist_items import list_steps

    with (
        cli_services("worklist list", data_dir, database_url) as services,
        services.session_factory() as session,
    ):
        rows = list_steps(
            session=session,
            status=status,
            modality=modality,
            station_ae_title=station,
            date_from=date,
            date_to=date,
            limit=limit,
        )
    for r in rows:
        typer.echo(
            f"{r.scheduled_procedure_step_id}\t{r.scheduled_procedure_step_status}\t{r.modality}"
            f"\t{r.scheduled_station_ae_title or '-'}\t{r.scheduled_start_date}"
            f" {r.scheduled_start_time[:4]}\t{r.accession_number}\t{r.patient_id}"
            f"\t{r.patient_name or ''}"
        )


@worklist_app.command("add")
def add(
    accession: Annotated[str, typer.Argument(help="Accession number of the order.")],
    modality: Annotated[str, typer.Option(help="DICOM modality, e.g. CT.")],
    date: Annotated[str, typer.Option(help="Scheduled start date, YYYYMMDD.")],
    time_: Annotated[str, typer.Option("--time", help="Scheduled start time, HHMM.")] = "0000",
    station: Annotated[str | None, typer.Option(help="Scheduled station AE title.")] = None,
    jj1017: Annotated[str | None, typer.Option(help="JJ1017-32 procedure code.")] = None,
    description: Annotated[str | None, typer.Option(help="Procedure description.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Add a scheduled step to an order; prints its SPS ID. Exit 1 when refused (unknown
    accession, ended order, bad code; the reason is printed)."""
    from raddx.ris import ProcedureCreate
    from raddx.ris.worklist_items import add_step

    with cli_services("worklist add", data_dir, database_url) as services:
        procedure = ProcedureCreate(
            modality=modality,
            scheduled_start_date=date,
            scheduled_start_time=time_,
            description=description,
            jj1017_code=jj1017,
            scheduled_station_ae_title=station,
        )
        with services.session_factory() as session, session.begin():
            row = add_step(session=session, accession_number=accession, procedure=procedure)
    typer.echo(row.scheduled_procedure_step_id)


@worklist_app.command("cancel")
def cancel(
    sps_id: Annotated[str, typer.Argument(help="Scheduled Procedure Step ID.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Cancel one scheduled step (the order is cancelled with its last step). Exit 1 for an
    unknown step or one that has started or ended."""
    from raddx.ris.worklist_items import cancel_step

    with (
        cli_services("worklist cancel", data_dir, database_url) as services,
        services.session_factory() as session,
        session.begin(),
    ):
        row = cancel_step(session=session, scheduled_procedure_step_id=sps_id)
    typer.echo(f"{sps_id} {row.scheduled_procedure_step_status} (order {row.order_status})")


@reconcile_app.command("unmatched")
def unmatched(
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One line per stored study no order claims: Study UID, patient ID and name, accession
    number, study date, modalities, instances."""
    from raddx.ris.reconcile import unmatched_studies

    with (
        cli_services("reconcile unmatched", data_dir, database_url) as services,
        services.session_factory() as session,
    ):
        rows = unmatched_studies(session=session, limit=limit)
    for r in rows:
        typer.echo(
            f"{r.study_instance_uid}\t{r.patient_id}\t{r.patient_name or ''}"
            f"\t{r.accession_number or ''}\t{r.study_date or ''}\t{r.modalities_in_study}"
            f"\t{r.number_of_study_related_instances}"
        )


@reconcile_app.command("auto")
def auto(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Link every unmatched study that an order now claims (images that arrived before their
    order); one line per link: Study UID, accession number."""
    from raddx.ris.reconcile import link_waiting_studies

    with (
        cli_services("reconcile auto", data_dir, database_url) as services,
        services.session_factory() as session,
        session.begin(),
    ):
        linked = link_waiting_studies(session=session)
    for uid, accession in linked:
        typer.echo(f"{uid}\t{accession}")


@reconcile_app.command("study")
def study(
    study_uid: Annotated[str, typer.Argument(help="Study Instance UID of the stored study.")],
    reason: Annotated[str, typer.Option(help="Why (kept with the link and in the audit).")],
    accession: Annotated[
        str | None, typer.Option(help="The order it belongs to (its patient is taken too).")
    ] = None,
    patient_id: Annotated[str | None, typer.Option(help="The right Patient ID.")] = None,
    issuer: Annotated[str, typer.Option(help="Issuer of Patient ID.")] = "",
    name: Annotated[str | None, typer.Option(help="The right PatientName (DICOM PN).")] = None,
    birth_date: Annotated[str | None, typer.Option(help="PatientBirthDate, YYYYMMDD.")] = None,
    sex: Annotated[str | None, typer.Option(help="PatientSex: M, F or O.")] = None,
    user: Annotated[str, typer.Option(help="Who reconciles (recorded).")] = "cli",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Link a stored study to an order and/or correct its patient: the stored objects are
    rewritten (previous values in OriginalAttributesSequence, reason CORRECT) and the index
    follows. Exit 1 when refused (unknown study or accession, deleted study)."""
    from raddx.ris.reconcile import reconcile_study
    from raddx.ris.records import PatientData

    with cli_services("reconcile study", data_dir, database_url) as services:
        patient = PatientData(patient_id, issuer, name, birth_date, sex) if patient_id else None
        result = reconcile_study(
            session_factory=services.session_factory,
            blobs=services.blobs,
            study_instance_uid=study_uid,
            accession_number=accession,
            patient=patient,
            actor=user,
            reason=reason,
        )
    typer.echo(
        f"{study_uid}\t{result.accession_number or '-'}\t{result.patient_id or '-'}"
        f"\t{result.instances_rewritten} objects rewritten"
    )
