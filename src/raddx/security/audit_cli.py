"""``raddx audit``: verify the hash chain, search the log (each use is itself audited)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import socket
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from raddx._cli_options import DatabaseUrl, DataDir, cli_services, load_cli_settings
from raddx.db.models import AuditRecord
from raddx.errors import InvalidInput
from raddx.security import audit
from raddx.security import audit_events as ev
from raddx.security.audit import ActiveParticipant, EventOutcomeIndicatorValues
from raddx.security.audit_anchor import append_anchor, check_anchors, read_anchors, take_anchor
from raddx.security.audit_log import AuditFilter, search, verify

__all__ = ["AUDIT_LOG_URI", "audit_app", "record_public"]

audit_app = typer.Typer(help="The audit trail: verify its hash chain, search it.")

#: The audit log's ParticipantObjectID in Audit Log Used messages (PS3.15 A.5.3.2).
AUDIT_LOG_URI = "raddx:audit_record"


class OutputFormatValues(StrEnum):
    JSON = "json"
    XML = "xml"


def _operator() -> ActiveParticipant:
    """The person at the console (OS account), as the requestor of a CLI action."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = "unknown"
    return ActiveParticipant(user_id=name, user_is_requestor=True, host=socket.gethostname())


def record_public(row: AuditRecord) -> dict[str, object]:
    """One record as the CLI and ``/api/audit`` print it."""
    return {
        "seq": row.seq,
        "event_time": _utc(row.event_time).isoformat(),
        "event_id": row.event_id,
        "event_action_code": row.event_action_code,
        "event_outcome_indicator": row.event_outcome_indicator,
        "user_id": row.user_id,
        "patient_id": row.patient_id,
        "source_id": row.source_id,
        "hash": row.hash,
        "xml": row.xml,
    }


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _when(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        typer.echo(f"raddx: {option}: not an ISO 8601 date or date-time: {text!r}", err=True)
        raise typer.Exit(2) from None
    return _utc(value)


@audit_app.command("verify")
def verify_command(
    anchor: Annotated[
        list[Path] | None,
        typer.Option(
            "--anchor",
            help="Also check the anchors in this file (raddx audit anchor --out, or the syslog "
            "collector's archive of raddx audit messages); repeatable.",
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Walk the audit log's hash chain from the first record; exit 1 at the first broken or
    missing link (an edited or deleted record), naming it. With ``--anchor``, also exit 1 when
    an anchored record is gone or has another hash (the whole log rewritten or cut back)."""
    with cli_services("audit verify", data_dir, database_url) as services:
        anchors = [a for path in anchor or [] for a in read_anchors(path)]
        report = verify(services.engine)
        checks = check_anchors(services.engine, anchors)
        intact = report.ok and all(c.ok for c in checks)
        audit.record(
            ev.audit_log_used(
                reader=_operator(),
                log_uri=AUDIT_LOG_URI,
                outcome=EventOutcomeIndicatorValues.SUCCESS
                if intact
                else EventOutcomeIndicatorValues.SERIOUS_FAILURE,
            )
        )
    for check in checks:
        if not check.ok:
            typer.echo(
                f"audit anchor of record {check.anchor.seq} taken "
                f"{check.anchor.taken_at.isoformat()} does NOT match: {check.reason}",
                err=True,
            )
    if not report.ok:
        typer.echo(
            f"audit log BROKEN at record {report.broken_seq}: {report.reason} "
            f"({report.records} records verified before it)",
            err=True,
        )
    if not intact:
        raise typer.Exit(1)
    matched = f"; {len(checks)} anchor(s) match" if checks else ""
    typer.echo(f"audit log intact: {report.records} records{matched}")


@audit_app.command("anchor")
def anchor_command(
    out: Annotated[
        Path | None,
        typer.Option(help="Append the anchor to this file (kept outside the database's reach)."),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the chain head (record number and hash) as one JSON line, or append it to
    ``--out``. Keep anchors where the database's writers cannot change them; ``raddx audit
    verify --anchor FILE`` then detects a log rewritten or cut back since."""
    with cli_services("audit anchor", data_dir, database_url) as services:
        taken = take_anchor(services.engine)
        if out is not None:
            try:
                append_anchor(out, taken)
            except OSError as exc:
                raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}") from None
        audit.record(
            ev.audit_log_used(
                reader=_operator(),
                log_uri=AUDIT_LOG_URI,
                outcome=EventOutcomeIndicatorValues.SUCCESS,
            )
        )
    if out is None:
        typer.echo(taken.to_json())
    else:
        typer.echo(f"anchor of record {taken.seq} appended to {out}")


@audit_app.command("search")
def search_command(
    patient: Annotated[str | None, typer.Option("--patient", help="PatientID.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="UserID of the requestor.")] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="EventID code, e.g. 110112 (Query).")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this ISO 8601 time (UTC if no offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Before this ISO 8601 time (UTC if no offset).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100000)] = 100,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    output: Annotated[
        OutputFormatValues, typer.Option("--format", help="json (one object a line) or xml.")
    ] = OutputFormatValues.JSON,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print audit records matching all the filters given, oldest first. The search itself is
    recorded (Audit Log Used, PS3.15 A.5.3.2)."""
    from raddx.services import Services

    criteria = AuditFilter(
        patient_id=patient,
        user_id=user,
        event_id=event,
        since=_when(since, "--since"),
        until=_when(until, "--until"),
        limit=limit,
        offset=offset,
    )
    services = Services.from_settings(
        load_cli_settings(data_dir=data_dir, database_url=database_url)
    )
    try:
        with Session(services.engine) as session:
            rows = list(search(session, criteria))
            for row in rows:
                if output is OutputFormatValues.XML:
                    typer.echo(row.xml)
                else:
                    typer.echo(json.dumps(record_public(row), ensure_ascii=False))
        audit.record(ev.audit_log_used(reader=_operator(), log_uri=AUDIT_LOG_URI))
    finally:
        services.close()
