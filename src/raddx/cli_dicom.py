"""``raddx send`` and ``raddx retrieve``: the archive as a DIMSE SCU.

The commands choose what to send or fetch and print the summary; the DICOM exchange itself is
in :mod:`raddx.dimse.scu`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from raddx._cli_options import DatabaseUrl, DataDir, Quiet, load_cli_settings
from raddx.config import RemoteAE, Settings

if TYPE_CHECKING:  # pydicom and rich load only when a command runs: `raddx --help` stays fast
    from pydicom.dataset import Dataset
    from rich.progress import Progress

__all__ = ["retrieve", "send"]


def _remote(settings: Settings, ae_title: str) -> RemoteAE:
    """The configured remote AE, or one added at runtime through the REST API."""
    from raddx.errors import NotFound
    from raddx.remotes import RemoteAERegistry
    from raddx.services import Services

    for remote in settings.remote_aes:
        if remote.ae_title.strip() == ae_title.strip():
            return remote
    services = Services.from_settings(settings)
    try:
        registry = RemoteAERegistry(settings, services.session_factory)
        try:
            return registry.get(ae_title).remote
        except NotFound:
            known = ", ".join(e.remote.ae_title for e in registry.list()) or "none configured"
    finally:
        services.close()
    typer.echo(
        f"raddx: unknown remote AE {ae_title!r} (known: {known}); add it to remote_aes "
        "in raddx.toml or RADDX_REMOTE_AES, or through POST /api/remote-aes",
        err=True,
    )
    raise typer.Exit(2)


def _progress(quiet: bool) -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    )


def _files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _from_files(paths: list[Path]) -> tuple[list[Any], list[tuple[str, str]]]:
    """Outgoing objects from files, and (file, reason) for those that are not DICOM."""
    import pydicom

    from raddx.dimse.scu import Outgoing

    outgoing: list[Outgoing] = []
    unreadable: list[tuple[str, str]] = []
    for path in _files(paths):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
            outgoing.append(
                Outgoing(
                    sop_class_uid=str(header.SOPClassUID),
                    sop_instance_uid=str(header.SOPInstanceUID),
                    transfer_syntax_uid=str(header.file_meta.TransferSyntaxUID),
                    load=lambda p=path: pydicom.dcmread(p),  # type: ignore[misc]
                )
            )
        except Exception as exc:  # not DICOM or without the UIDs needed to send it
            unreadable.append((str(path), f"not a sendable DICOM file: {exc}"))
    return outgoing, unreadable


def _from_archive(services: Any, studies: list[str], patient_id: str | None) -> list[Any]:
    from raddx.archive.query import Query
    from raddx.archive.retrieve import RetrieveService
    from raddx.dimse.scu import archived_outgoing

    if studies:
        # PS3.4 C.2.2.2.2: a list of UIDs, backslash-separated, matches any of them.
        query = Query(
            level="STUDY",  # type: ignore[arg-type]
            information_model="STUDY_ROOT",  # type: ignore[arg-type]
            keys={"StudyInstanceUID": "\\".join(studies)},
        )
    else:
        query = Query(
            level="PATIENT",  # type: ignore[arg-type]
            information_model="PATIENT_ROOT",  # type: ignore[arg-type]
            keys={"PatientID": patient_id},
        )
    retrieve_service = RetrieveService(services.session_factory, services.blobs)
    return archived_outgoing(retrieve_service, retrieve_service.instances(query))


def send(
    remote_ae: Annotated[
        str, typer.Argument(help="Remote AE title (remote_aes, or added via /api/remote-aes).")
    ],
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders to send instead of archive content."),
    ] = None,
    study: Annotated[
        list[str] | None, typer.Option("--study", help="StudyInstanceUID (repeatable).")
    ] = None,
    patient_id: Annotated[
        str | None, typer.Option("--patient-id", help="Every study of this PatientID.")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    quiet: Quiet = False,
) -> None:
    """Send instances to a remote AE with C-STORE: from the archive (`--study`,
    `--patient-id`) or from files and folders.

    Prints a summary (sent; failed with the peer's status and comment). Ctrl-C stops at
    once (the association is aborted) and prints the summary so far with the number not
    attempted. Exits 0 when everything was sent, 1 on any failure or when nothing matched, 2
    for an unknown remote AE or a wrong selection, 130 on Ctrl-C.
    """
    from raddx.dimse.scu import SendSummary, StoreOutcome, send_instances
    from raddx.errors import RaddxError
    from raddx.server import configure_logging
    from raddx.services import Services

    configure_logging(logging.WARNING)
    chosen = sum(bool(x) for x in (paths, study, patient_id))
    if chosen != 1:
        typer.echo("raddx: give exactly one of --study, --patient-id or PATHS", err=True)
        raise typer.Exit(2)
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    remote = _remote(settings, remote_ae)
    failures: list[tuple[str, str]] = []
    if paths:
        missing = [p for p in paths if not p.exists()]
        if missing:
            typer.echo(f"raddx: no such file or folder: {', '.join(map(str, missing))}", err=True)
            raise typer.Exit(2)
        outgoing, failures = _from_files(paths)
        services = None
    else:
        services = Services.from_settings(settings)
        try:
            outgoing = _from_archive(services, study or [], patient_id)
        except RaddxError as exc:
            services.close()
            typer.echo(f"raddx: {exc}", err=True)
            raise typer.Exit(2) from None
    try:
        with _progress(quiet) as progress:
            task = progress.add_task(f"sending to {remote.ae_title}", total=len(outgoing))

            def on_outcome(_outcome: StoreOutcome) -> None:
                progress.advance(task)

            summary = send_instances(
                remote, outgoing, calling_ae=settings.ae_title, progress=on_outcome
            )
    except KeyboardInterrupt:
        # Ctrl-C outside the sending itself (while reading the archive or drawing progress).
        summary = SendSummary([], interrupted=True, not_attempted=len(outgoing))
    finally:
        if services is not None:
            services.close()
    outcomes = summary.outcomes
    sent = [o for o in outcomes if o.ok]
    for outcome in outcomes:
        if not outcome.ok:
            status = "no status" if outcome.status is None else f"status 0x{outcome.status:04X}"
            failures.append((outcome.sop_instance_uid, f"{status}: {outcome.comment}".strip()))
    typer.echo(f"sent {len(sent)}, failed {len(failures)} to {remote.ae_title}")
    for what, reason in failures:
        typer.echo(f"  failed {what}: {reason}")
    if summary.interrupted:
        typer.echo(f"interrupted (Ctrl-C): {summary.not_attempted} not attempted")
        raise typer.Exit(130)
    if not outgoing and not failures:
        typer.echo("raddx: nothing matched; nothing was sent", err=True)
        raise typer.Exit(1)
    raise typer.Exit(1 if failures else 0)


def _store_handler(services: Any, remote: RemoteAE) -> Callable[[Any], int | Dataset]:
    """A C-STORE handler for C-GET sub-operations: into our archive through ingest."""
    from raddx.dimse.scu import archive_store_handler

    return archive_store_handler(
        services.ingest, remote_ae_title=remote.ae_title, our_ae_title=services.settings.ae_title
    )


def retrieve(
    remote_ae: Annotated[
        str, typer.Argument(help="Remote AE title (remote_aes, or added via /api/remote-aes).")
    ],
    study: Annotated[list[str], typer.Option("--study", help="StudyInstanceUID (repeatable).")],
    use_get: Annotated[
        bool, typer.Option("--get", help="C-GET into this archive (the default).")
    ] = False,
    move_to: Annotated[
        str | None,
        typer.Option("--move-to", help="C-MOVE to this AE instead (e.g. our running server)."),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    quiet: Quiet = False,
) -> None:
    """Fetch studies from a remote AE: C-GET into this archive (stored through the same
    ingest as C-STORE), or C-MOVE to an AE the remote knows (`--move-to`).

    Before a C-GET, C-FINDs (SERIES, then IMAGE level) ask which SOP classes the study holds,
    so exactly those are negotiated; a study with more than 127 classes is fetched with
    several C-GETs. A remote that cannot answer them gets the 127 most usual classes.

    Prints the sub-operation counts. Exits 0 when everything arrived, 1 on any failure, 2 for
    an unknown remote AE or wrong options.
    """
    from pydicom.dataset import Dataset

    from raddx.dimse import get_plan, scu
    from raddx.server import configure_logging
    from raddx.services import Services

    configure_logging(logging.WARNING)
    if use_get and move_to:
        typer.echo("raddx: give either --get or --move-to, not both", err=True)
        raise typer.Exit(2)
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    remote = _remote(settings, remote_ae)
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = list(study) if len(study) > 1 else study[0]
    with _progress(quiet) as progress:
        task = progress.add_task(f"retrieving from {remote.ae_title}", total=None)

        def on_pending(status: Dataset) -> None:
            done = sum(
                int(status.get(k, 0) or 0)
                for k in (
                    "NumberOfCompletedSuboperations",
                    "NumberOfFailedSuboperations",
                    "NumberOfWarningSuboperations",
                )
            )
            remaining = int(status.get("NumberOfRemainingSuboperations", 0) or 0)
            progress.update(task, completed=done, total=done + remaining)

        if move_to:
            outcome = scu.move(
                remote, identifier, move_to, calling_ae=settings.ae_title, progress=on_pending
            )
        else:
            services = Services.from_settings(settings)
            try:
                outcome = get_plan.combine(
                    [
                        get_plan.get_study(
                            remote,
                            study_uid,
                            _store_handler(services, remote),
                            calling_ae=settings.ae_title,
                            progress=on_pending,
                        )
                        for study_uid in study
                    ]
                )
            finally:
                services.close()
    status = "no status" if outcome.status is None else f"status 0x{outcome.status:04X}"
    typer.echo(
        f"retrieved {outcome.completed}, warning {outcome.warning}, failed {outcome.failed} "
        f"from {remote.ae_title} ({status}{': ' + outcome.comment if outcome.comment else ''})"
    )
    raise typer.Exit(0 if outcome.ok else 1)
