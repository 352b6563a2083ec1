"""The ``raddx`` command: serve, import, and maintenance.

Settings come from ``raddx.toml`` and ``RADDX_*`` environment variables (``raddx.config``);
options given here override both for this run.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from raddx import __version__
from raddx._cli_options import DatabaseUrl, DataDir, Quiet, load_cli_settings
from raddx.cli_dicom import retrieve, send
from raddx.deid.cli import deid_app
from raddx.hl7.cli import hl7_app
from raddx.reports.cli import report_app
from raddx.ris.cli import order_app
from raddx.ris.jj1017_cli import jj1017_app
from raddx.ris.worklist_cli import reconcile_app, worklist_app
from raddx.security.accounts_cli import token_app, user_app
from raddx.security.audit_cli import audit_app
from raddx.security.data_cli import backup_app, fixity, restore, storage_app
from raddx.security.security_cli import security_app

__all__ = ["app"]

app = typer.Typer(
    help="raddx — medical-imaging archive (PACS), RIS and report system.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",  # re-flow docstring paragraphs in --help
)
db_app = typer.Typer(help="Index database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(deid_app, name="deid")
app.add_typer(backup_app, name="backup")
app.add_typer(storage_app, name="storage")
app.command("fixity")(fixity)
app.command("restore")(restore)
app.add_typer(report_app, name="report")
app.add_typer(order_app, name="order")
app.add_typer(worklist_app, name="worklist")
app.add_typer(reconcile_app, name="reconcile")
app.add_typer(jj1017_app, name="jj1017")
app.add_typer(hl7_app, name="hl7")
app.add_typer(audit_app, name="audit")
app.add_typer(security_app, name="security")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        typer.echo(f"raddx {__version__}")
        raise typer.Exit()


@app.command()
def serve(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    ae_title: Annotated[
        str | None, typer.Option("--ae-title", help="Our AE title [RADDX_AE_TITLE].")
    ] = None,
    dicom_port: Annotated[
        int | None, typer.Option("--dicom-port", help="DIMSE port [RADDX_DICOM_PORT].")
    ] = None,
    http_port: Annotated[
        int | None, typer.Option("--http-port", help="HTTP port [RADDX_HTTP_PORT].")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--dicom-workers", help="DIMSE worker processes; 0 = one per core."),
    ] = None,
) -> None:
    """Run the archive: DICOM C-ECHO, C-STORE, C-FIND, C-GET and C-MOVE (default port 11112,
    AE RADDX) and HTTP (default 127.0.0.1:8080, health at /healthz). Ctrl-C stops it cleanly.

    Every stored object is fsynced and its index row committed before the sender gets
    Success; at start the sweep re-indexes objects whose row a crash lost. DCMTK-based senders
    (storescu, Orthanc) need TCP_NODELAY=1 in their environment or each object waits ~40 ms on
    Nagle's algorithm.
    """
    from raddx.server import configure_logging
    from raddx.server import serve as run_server

    configure_logging()
    settings = load_cli_settings(
        data_dir=data_dir,
        database_url=database_url,
        ae_title=ae_title,
        dicom_port=dicom_port,
        http_port=http_port,
        dicom_workers=workers,
    )
    raise typer.Exit(run_server(settings))


@app.command("import")
def import_(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, folders (recursive), .zip files, DICOMDIRs.")
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    quiet: Quiet = False,
) -> None:
    """Import DICOM files into the archive through the same ingest as C-STORE.

    Prints a summary: stored, duplicates (identical copy already stored), replaced, rejected
    (with the reason for each), and skipped non-DICOM files. A full disk or Ctrl-C stops the
    import with the summary so far; running it again continues (nothing is stored twice).
    Exits 0 when everything was stored, 1 if anything was rejected or the disk filled up, 130
    on Ctrl-C.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from raddx.archive import ImportEvent, import_paths
    from raddx.server import configure_logging
    from raddx.services import Services

    configure_logging(logging.WARNING)
    missing = [p for p in paths if not p.exists()]
    if missing:
        typer.echo(f"raddx: no such file or folder: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(2)
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    started = time.perf_counter()
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[current]}"),
            disable=quiet or not sys.stderr.isatty(),
            transient=True,
        ) as progress:
            task = progress.add_task("importing", total=None, current="")

            def _on_event(event: ImportEvent) -> None:
                progress.update(
                    task, total=event.total, completed=event.done, current=event.name[-50:]
                )

            summary = import_paths(paths, ingest=services.ingest, progress=_on_event)
    finally:
        services.close()
    elapsed = time.perf_counter() - started
    typer.echo(summary.render(elapsed=elapsed))
    if summary.stopped == "interrupted":
        raise typer.Exit(130)
    raise typer.Exit(1 if summary.rejected or summary.stopped else 0)


@app.command()
def sweep(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    grace: Annotated[
        int | None,
        typer.Option(help="Leave files younger than this many seconds [orphan_grace_seconds]."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report.")] = False,
) -> None:
    """Reconcile the blob store with the index after a crash: re-index complete objects whose
    index row was lost, remove torn or redundant blobs and unfinished temp files. Safe while
    the server runs: files younger than the grace period are left alone."""
    from raddx.archive import sweep_orphans
    from raddx.services import Services

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    try:
        report = sweep_orphans(
            session_factory=services.session_factory,
            blobs=services.blobs,
            ingest=services.ingest,
            grace_seconds=settings.orphan_grace_seconds if grace is None else grace,
            dry_run=dry_run,
        )
    finally:
        services.close()
    removed, recovered = (
        ("would remove", "would re-index") if dry_run else ("removed", "re-indexed")
    )
    typer.echo(
        f"{recovered} {report.recovered} unindexed object(s); {removed} {report.orphan_blobs} "
        f"orphan blob(s) ({report.orphan_bytes} bytes) and {report.temp_files} unfinished "
        f"temp file(s); {report.missing_blobs} indexed instance(s) have no blob"
    )


def _duration(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``45s`` or a plain number of days → seconds."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    text = text.strip().lower()
    unit = units.get(text[-1:]) if text else None
    number = text[:-1] if unit else text
    try:
        value = float(number)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a duration like 30d, 12h, 90m or 45s") from None
    if value < 0:
        raise typer.BadParameter("the duration must not be negative")
    return value * (unit or 86400)


@app.command()
def purge(
    older_than: Annotated[
        str,
        typer.Option(
            "--older-than",
            help="Purge what was soft-deleted at least this long ago: 30d, 12h, 90m, 45s, "
            "or a number of days; 0 purges every soft-deleted object.",
        ),
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Remove for good the studies, series and instances soft-deleted (REST API DELETE) at
    least --older-than ago: their index rows in one transaction, then their blobs. They can
    no longer be restored. Safe while the server runs; an interrupted purge is finished by
    the next one (or by `raddx sweep`)."""
    import datetime as dt

    from raddx.archive.deletion import purge as run_purge
    from raddx.services import Services

    seconds = _duration(older_than)
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    try:
        report = run_purge(
            session_factory=services.session_factory,
            blobs=services.blobs,
            deleted_before=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds),
        )
    finally:
        services.close()
    typer.echo(
        f"purged {report.patients} patient(s), {report.studies} study(ies), "
        f"{report.series} series, {report.instances} instance(s) ({report.bytes} bytes); "
        f"{report.blobs_deleted} blob(s) deleted"
    )


@app.command()
def reindex(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only count what would be added.")
    ] = False,
) -> None:
    """Read every stored object's header again and add to the index what it lacks (today:
    the ProcedureCodeSequence and RequestAttributesSequence items that objects stored before
    index revision 0003 have no rows for, so sequence-key queries miss them). Never changes
    an object, its identity or its counters; running it twice adds nothing the second time.
    Safe while the server runs: it writes one short transaction per 200 objects."""
    from raddx.archive.reindex import reindex as run_reindex
    from raddx.services import Services

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    try:
        report = run_reindex(
            session_factory=services.session_factory,
            engine=services.engine,
            blobs=services.blobs,
            default_timezone_offset=settings.default_timezone_offset,
            dry_run=dry_run,
            progress=lambda done: typer.echo(f"{done} object(s) read", err=True),
        )
    finally:
        services.close()
    verb = "would add" if dry_run else "added"
    typer.echo(
        f"{report.instances} object(s) read; {verb} {report.items_added} sequence item(s); "
        f"{report.unreadable} object(s) unreadable (see the log)"
    )
    if report.unreadable:
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Apply the index schema migrations (serve and import also do this at start)."""
    from raddx.services import Services

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    Services.from_settings(settings, migrate=True).close()
    typer.echo("index schema is up to date")


app.command("send")(send)
app.command("retrieve")(retrieve)

if __name__ == "__main__":  # pragma: no cover
    app()
