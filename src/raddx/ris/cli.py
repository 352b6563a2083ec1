"""``raddx order``: RIS orders by hand, for clinics without an HIS feed (list, add, cancel)."""

from __future__ import annotations

from typing import Annotated

import typer

from raddx._cli_options import DatabaseUrl, DataDir, cli_services

__all__ = ["order_app"]

order_app = typer.Typer(
    help="RIS orders: list, add and cancel by hand (orders from the HIS arrive over HL7).",
    no_args_is_help=True,
)


@order_app.command("list")
def list_(
    status: Annotated[
        str | None,
        typer.Option(help="SCHEDULED, IN_PROGRESS, COMPLETED, DISCONTINUED or CANCELLED."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One line per order: accession, status, patient, then each step (modality, station,
    start, JJ1017 code)."""
    from raddx.ris.listing import list_orders

    with (
        cli_services("order list", data_dir, database_url) as services,
        services.session_factory() as session,
    ):
        rows = list_orders(session=session, status=status, limit=limit)
    for row in rows:
        steps = "; ".join(
            f"{m} {ae or '-'} {d} {t[:4]} {code or ''}".rstrip()
            for _, m, ae, d, t, code in row.steps
        )
        typer.echo(
            f"{row.accession_number}\t{row.status}\t{row.patient_id}\t{row.patient_name or ''}"
            f"\t{steps}"
        )


@order_app.command("add")
def add(
    patient_id: Annotated[str, typer.Option(help="Patient ID.")],
    modality: Annotated[str, typer.Option(help="DICOM modality, e.g. CT.")],
    date: Annotated[str, typer.Option(help="Scheduled start date, YYYYMMDD.")],
    time_: Annotated[str, typer.Option("--time", help="Scheduled start time, HHMM.")] = "0000",
    name: Annotated[
        str | None, typer.Option(help="DICOM PN, e.g. 'Yamada^Taro=山田^太郎=ヤマダ^タロウ'.")
    ] = None,
    issuer: Annotated[str, typer.Option(help="Issuer of Patient ID.")] = "",
    station: Annotated[str | None, typer.Option(help="Scheduled station AE title.")] = None,
    jj1017: Annotated[str | None, typer.Option(help="JJ1017-32 procedure code.")] = None,
    description: Annotated[str | None, typer.Option(help="Procedure description.")] = None,
    accession: Annotated[str | None, typer.Option(help="Accession number (else assigned).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Place an order with one scheduled step; prints the accession number. Exit 1 when the
    order is refused (the reason is printed)."""
    from raddx.ris import OrderCreate, PatientData, ProcedureCreate, place_order

    with cli_services("order add", data_dir, database_url) as services:
        order = OrderCreate(
            patient=PatientData(patient_id, issuer, name),
            procedures=(
                ProcedureCreate(
                    modality=modality,
                    scheduled_start_date=date,
                    scheduled_start_time=time_,
                    description=description,
                    jj1017_code=jj1017,
                    scheduled_station_ae_title=station,
                ),
            ),
            accession_number=accession,
        )
        with services.session_factory() as session, session.begin():
            placed = place_order(order, session=session)
    typer.echo(placed.accession_number)


@order_app.command("cancel")
def cancel(
    accession: Annotated[str, typer.Argument(help="Accession number of the order.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Cancel a scheduled order (its steps leave the worklist). Exit 1 for an unknown
    accession number or an order that has started or ended."""
    from raddx.ris import OrderStatusValues, change_order_status, find_order

    with (
        cli_services("order cancel", data_dir, database_url) as services,
        services.session_factory() as session,
        session.begin(),
    ):
        order = find_order(accession_number=accession, session=session)
        change_order_status(order, OrderStatusValues.CANCELLED, session=session)
    typer.echo(f"{accession} CANCELLED")
