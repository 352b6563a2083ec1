"""Options and settings loading shared by every ``raddx`` subcommand module."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from raddx.config import Settings, load_settings

__all__ = ["DataDir", "DatabaseUrl", "Quiet", "load_cli_settings"]

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
