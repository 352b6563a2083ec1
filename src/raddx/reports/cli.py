"""``raddx report``: export and import report exchange packages, CSV files and other
vendors' CDA/FHIR exports.

A door (ARCHITECTURE.md): it parses options, calls :mod:`raddx.reports.package` /
:mod:`raddx.reports.csv_import` and prints a summary.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from raddx._cli_options import DatabaseUrl, DataDir, Quiet, load_cli_settings
from raddx.errors import InvalidInput
from raddx.reports.enum import ReportStatusValues
from raddx.reports.formats.csv import ColumnMapping
from raddx.reports.store import ReportSelection

__all__ = ["report_app"]

report_app = typer.Typer(
    help="Radiology reports: exchange packages (CDA + FHIR + index.csv), CSV import.",
    no_args_is_help=True,
)


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        text = value.replace("-", "")
        return dt.datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        typer.echo(f"raddx report: {name} {value!r}: use YYYYMMDD or YYYY-MM-DD", err=True)
        raise typer.Exit(2) from None


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        disable=quiet or not sys.stderr.isatty(),
        transient=True,
    )


class ExportFormat(StrEnum):
    """What ``raddx report export`` writes."""

    PACKAGE = "package"
    CSV = "csv"
    SS_MIX2 = "ss-mix2"


@report_app.command("export")
def export(
    target: Annotated[
        Path, typer.Argument(help="A .zip file, a new folder, or a .csv file (rows only).")
    ],
    date_from: Annotated[
        str | None, typer.Option("--from", help="First study date (YYYYMMDD or YYYY-MM-DD).")
    ] = None,
    date_to: Annotated[str | None, typer.Option("--to", help="Last study date.")] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="Patient ID.")] = None,
    modality: Annotated[str | None, typer.Option("--modality", help="e.g. CT.")] = None,
    status: Annotated[
        list[ReportStatusValues] | None,
        typer.Option("--status", help="Report status; repeat for several."),
    ] = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Every version, not only the latest.")
    ] = False,
    pdf: Annotated[
        bool,
        typer.Option("--pdf", help="Also a report.pdf per version (Japanese font embedded)."),
    ] = False,
    fmt: Annotated[
        ExportFormat | None,
        typer.Option(
            "--format",
            help="package (ZIP or folder), csv (rows only) or ss-mix2 (HL7 ORU files in an "
            "SS-MIX2 standardised storage tree at TARGET). Default: csv for a .csv TARGET, "
            "else package.",
        ),
    ] = None,
    kos: Annotated[
        bool,
        typer.Option(
            "--kos",
            help="Also keyimages.kos.dcm per version with key images (DICOM Key Object "
            "Selection, TID 2010).",
        ),
    ] = False,
    bom: Annotated[
        bool, typer.Option("--bom", help="CSV: start with a BOM so that Excel reads UTF-8.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    quiet: Quiet = False,
) -> None:
    """Export reports as an exchange package: ``manifest.json`` (format version, producer,
    counts, SHA-256 of every file), ``index.csv`` (one row per report in the CSV layout of
    ``raddx report csv-layout``) and ``reports/<id>/<version>/report.cda.xml`` (DICOM PS3.20
    CDA; not for drafts and cancelled reports) + ``report.fhir.json`` (FHIR R4, JP Core shape)
    (+ ``report.pdf`` with --pdf; about 5 per second, so off by default; +
    ``keyimages.kos.dcm`` with --kos, the key images as a DICOM Key Object Selection).

    A TARGET ending in .csv gets only the rows (the layout `raddx report import` reads; --bom
    for Excel). The output appears complete or not at all. --format ss-mix2 writes each
    report version as an HL7 v2.5 ORU^R01 (ISO-2022-JP) into an SS-MIX2 standardised storage
    tree at TARGET (created or added to; layout in raddx.reports.profile.SSMIX2). Exits 0 on
    success, 1 when some report could not be written (listed), 2 on a usage error.
    """
    from raddx.reports.csv_export import export_csv
    from raddx.reports.package import export_package
    from raddx.services import Services

    selection = ReportSelection(
        patient_id=patient,
        modality=modality,
        statuses=tuple(status or ()),
        date_from=_date(date_from, "--from"),
        date_to=_date(date_to, "--to"),
        latest_only=not all_versions,
    )
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    started = time.perf_counter()
    try:
        with _progress(quiet) as progress:
            task = progress.add_task("exporting", total=None)
            if fmt is ExportFormat.SS_MIX2:
                from raddx.reports.ssmix2 import export_ssmix2

                tree = export_ssmix2(
                    session_factory=services.session_factory,
                    selection=selection,
                    target=target,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
                typer.echo(tree.render(elapsed=time.perf_counter() - started))
                if tree.errors:
                    raise typer.Exit(1)
                return
            if fmt is ExportFormat.CSV or (fmt is None and target.suffix.lower() == ".csv"):
                rows = export_csv(
                    session_factory=services.session_factory,
                    selection=selection,
                    target=target,
                    bom=bom,
                    progress=lambda done, total: progress.update(task, completed=done, total=total),
                )
                typer.echo(f"exported {rows} report(s) to {target}")
                return
            summary = export_package(
                session_factory=services.session_factory,
                selection=selection,
                target=target,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                include_pdf=pdf,
                include_kos=kos,
                pdf_font=settings.report_pdf_font,
            )
    except (InvalidInput, FileNotFoundError) as exc:
        typer.echo(f"raddx report: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(summary.render(elapsed=time.perf_counter() - started))


@report_app.command("import")
def import_(
    source: Annotated[
        Path,
        typer.Argument(
            help="A package (.zip or folder with manifest.json), a .csv file, or a folder of "
            "CDA (.xml) / FHIR (.json) / ORU (.hl7) / SR (.dcm) / raddx PDF (.pdf) files, "
            "or an SS-MIX2 storage tree (its ORU^R01 files with condition flag 1)."
        ),
    ],
    result: Annotated[
        Path | None,
        typer.Option("--result", help="Row-level result file [default: SOURCE.result.csv]."),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="CSV column-mapping file (see `raddx report csv-layout`)."),
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="CSV: import the good rows of a file with bad ones.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    quiet: Quiet = False,
) -> None:
    """Import reports. A package is checked against its manifest first: one changed, missing
    or extra file and nothing is imported. Reports are matched to archive studies by
    accession number + Study Instance UID, else by patient ID + study date + procedure code;
    unmatched ones are quarantined, not dropped. Re-importing is safe: the same report id and
    version is a no-op, a lower version is rejected.

    A CSV file (UTF-8 with or without BOM, or CP932/Shift_JIS, detected) is all or nothing
    unless --partial. Every row gets a line in the result file. Exits 0 when everything was
    imported or already there, 1 when anything was rejected, unreadable or not imported,
    2 on a usage error.
    """
    from raddx.reports.csv_import import import_csv
    from raddx.reports.package import import_reports
    from raddx.services import Services

    if not source.exists():
        typer.echo(f"raddx report: no such file or folder: {source}", err=True)
        raise typer.Exit(2)
    result_path = result or source.with_name(source.name + ".result.csv")
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    started = time.perf_counter()
    try:
        with _progress(quiet) as progress:
            task = progress.add_task("importing", total=None)

            def _show(done: int, total: int | None) -> None:
                progress.update(task, completed=done, total=total)

            if source.is_file() and source.suffix.lower() == ".csv":
                summary = import_csv(
                    session_factory=services.session_factory,
                    path=source,
                    result_path=result_path,
                    mapping=ColumnMapping.load(mapping) if mapping else None,
                    partial=partial,
                    progress=_show,
                )
            else:
                summary = import_reports(
                    session_factory=services.session_factory,
                    source=source,
                    result_path=result_path,
                    progress=_show,
                )
    except InvalidInput as exc:
        typer.echo(f"raddx report: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        services.close()
    typer.echo(summary.render(elapsed=time.perf_counter() - started))
    raise typer.Exit(1 if summary.failed or summary.counts["not imported"] else 0)


@report_app.command("csv-layout")
def csv_layout() -> None:
    """Print the default CSV layout as a column-mapping file: copy it, change the right-hand
    names to your export's headers, and pass it with ``raddx report import --mapping``."""
    typer.echo(ColumnMapping.default_text(), nl=False)
