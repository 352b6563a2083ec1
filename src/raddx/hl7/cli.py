"""``raddx hl7``: the outbox of HL7 v2 messages (and forwarded MPPS) raddx owes other systems."""

from __future__ import annotations

from typing import Annotated

import typer

from raddx._cli_options import DatabaseUrl, DataDir, cli_services

__all__ = ["hl7_app"]

hl7_app = typer.Typer(
    help="Outbound HL7 v2 (OMI^Z23, OMI^O23, ORU^R01) and MPPS forwarding: the outbox that "
    "raddx serve delivers from.",
    no_args_is_help=True,
)


@hl7_app.command("outbox")
def outbox(
    status: Annotated[
        str | None, typer.Option(help="Only this status: pending, sent or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One line per delivery: id, status, event (omi, z23, oru, mpps) and action, destination,
    subject (accession, report id:version or MPPS UID), attempts, last error. Events not yet
    routed by raddx serve show with destination ``-``."""
    from raddx.outbox import OutboxStatusValues, list_entries

    try:
        wanted = OutboxStatusValues(status) if status else None
    except ValueError:
        typer.echo(f"raddx hl7 outbox: unknown status {status!r}", err=True)
        raise typer.Exit(2) from None
    with (
        cli_services("hl7 outbox", data_dir, database_url) as services,
        services.session_factory() as session,
    ):
        entries = list_entries(session=session, status=wanted, limit=limit)
    for e in entries:
        typer.echo(
            f"{e.id}\t{e.status}\t{e.event}:{e.action}\t{e.destination or '-'}\t{e.subject}"
            f"\tattempts={e.attempts}" + (f"\t{e.last_error}" if e.last_error else "")
        )


@hl7_app.command("retry")
def retry(
    entry_id: Annotated[int, typer.Argument(help="The delivery's id (raddx hl7 outbox).")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send a failed delivery again (raddx serve picks it up at its next pass). Exits 1 with
    the reason if it was sent already or does not exist."""
    from raddx.outbox import retry_entry

    with (
        cli_services("hl7 retry", data_dir, database_url) as services,
        services.session_factory() as session,
        session.begin(),
    ):
        entry = retry_entry(session=session, entry_id=entry_id)
    typer.echo(f"{entry.id}\t{entry.status}\t{entry.destination}")
