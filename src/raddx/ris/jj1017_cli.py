"""``raddx jj1017``: the hospital's JJ1017 master (import a JSRT/facility file, list it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raddx._cli_options import DatabaseUrl, DataDir, cli_services

__all__ = ["jj1017_app"]

jj1017_app = typer.Typer(
    help="The JJ1017 procedure-code master: import the hospital's JSRT master files and "
    "facility extensions (CSV in UTF-8 or CP932, Excel .xlsx), list codes.",
    no_args_is_help=True,
)


@jj1017_app.command("import")
def import_(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="CSV (UTF-8/CP932) or .xlsx.")
    ],
    partial: Annotated[
        bool, typer.Option("--partial", help="Import the good rows even if some are bad.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Import a master file: header row with at least the code and name columns (code/コード,
    name/名称; optional name_kana/カナ名称, name_english, modality/モダリティ,
    valid_from/有効開始日, valid_to/有効終了日). Each code is checked as JJ1017-32. All or
    nothing: any bad row (listed with row, column and reason) and nothing is imported, exit 1;
    with --partial the good rows are imported and the bad ones listed (exit 1 if any)."""
    from raddx.ris.jj1017_master import import_master, read_master_file

    with cli_services("jj1017 import", data_dir, database_url) as services:
        entries, errors = read_master_file(file)
        with services.session_factory() as session, session.begin():
            result = import_master(
                entries, errors, session=session, source=file.name, partial=partial
            )
    for error in result.errors:
        typer.echo(f"{file.name}: {error}", err=True)
    if not result.imported:
        typer.echo(
            f"{len(result.errors)} bad row(s) in {file.name}; nothing was imported "
            "(use --partial to import the good rows)",
            err=True,
        )
        raise typer.Exit(1)
    typer.echo(
        f"{file.name}: {result.added} added, {result.updated} updated, "
        f"{len(result.errors)} bad row(s)"
    )
    if result.errors:
        raise typer.Exit(1)


@jj1017_app.command("list")
def list_(
    search: Annotated[
        str | None, typer.Option(help="Text in a name (kanji, kana, English).")
    ] = None,
    modality: Annotated[str | None, typer.Option(help="DICOM modality, e.g. CT.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, in code order.")] = 100,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """One line per master code: code, modality, validity, name."""
    from raddx.ris.jj1017_master import search_master

    with (
        cli_services("jj1017 list", data_dir, database_url) as services,
        services.session_factory() as session,
    ):
        _, rows = search_master(session=session, text=search, modality=modality, limit=limit)
        lines = [
            f"{r.code}\t{r.modality or '-'}\t{r.valid_from or ''}-{r.valid_to or ''}\t{r.name}"
            for r in rows
        ]
    for line in lines:
        typer.echo(line)
