"""Options and settings loading shared by every ``raddx`` subcommand module."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from raddx.config import Settings, load_settings
from raddx.errors import RaddxError

if TYPE_CHECKING:
    from raddx.services import Services

__all__ = ["DataDir", "DatabaseUrl", "Quiet", "cli_services", "load_cli_settings"]

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Root for blobs and the SQLite index [RADDX_DATA_DIR]."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="SQLAlchemy URL of the index [RADDX_DATABASE_URL]."),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def load_cli_settings(**overrides: Any) -> Settings:
    """Settings with the options the person gave (``None`` = not given) on top; an invalid
    configuration is shown as a message and exit status 2, not a traceback."""
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except Exception as exc:  # pydantic ValidationError and TOML errors: show, don't trace
        typer.echo(f"raddx: invalid configuration:\n{exc}", err=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def cli_services(
    command: str, data_dir: Path | None, database_url: str | None
) -> Iterator[Services]:
    """The services for one command, closed afterwards. A refusal (:class:`RaddxError`: an
    unknown accession, a step that has started…) inside prints ``raddx <command>: reason`` and
    exits 1, so every command reports refusals the same way, never as a traceback."""
    from raddx.services import Services  # not at import: ``raddx --help`` stays fast

    services = Services.from_settings(
        load_cli_settings(data_dir=data_dir, database_url=database_url)
    )
    try:
        yield services
    except RaddxError as exc:
        typer.echo(f"raddx {command}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.close()
