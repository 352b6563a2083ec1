"""``raddx security``: the security disclosure (MDS2 / MDS-SDS answers) and the SBOM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raddx._cli_options import load_cli_settings

__all__ = ["security_app"]

security_app = typer.Typer(
    help="Security disclosure (MDS2 / JAHIS-JIRA MDS/SDS answers) and SBOM.", no_args_is_help=True
)

#: Where `make test` records the run the disclosure is proven by.
DEFAULT_JUNIT = Path("build/test-results/junit.xml")


@security_app.command("disclosure")
def disclosure_command(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for DISCLOSURE.md, .csv, .xlsx and .json.")
    ] = Path("dist/disclosure"),
    junit: Annotated[
        Path,
        typer.Option(
            "--junit",
            help="JUnit XML of the test run that proves the controls (make test writes it).",
        ),
    ] = DEFAULT_JUNIT,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="A control catalog other than the shipped one."),
    ] = None,
) -> None:
    """Answer the disclosure for THIS configuration (raddx.toml + RADDX_* variables).

    An item is Yes only when each control claimed for it is enabled here and every test named
    as its evidence passed in the --junit run; otherwise No, with the reason. Without the
    JUnit file every answer is No. Prints the Yes/No counts; exit status 0.
    """
    from raddx.security.disclosure import (
        RecordedRun,
        build_disclosure,
        load_catalog,
        render_csv,
        render_json,
        render_markdown,
        write_xlsx,
    )

    settings = load_cli_settings()
    run = RecordedRun.from_junit(junit) if junit.is_file() else None
    if run is None:
        typer.echo(f"raddx: no test run at {junit}: every answer is No", err=True)
    result = build_disclosure(load_catalog(catalog), settings, run)
    out.mkdir(parents=True, exist_ok=True)
    for name, text in (
        ("DISCLOSURE.md", render_markdown(result)),
        ("disclosure.csv", render_csv(result)),
        ("disclosure.json", render_json(result)),
    ):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out / name)
    write_xlsx(result, out / "disclosure.xlsx")
    yes = sum(item.answer == "Yes" for item in result.items)
    typer.echo(f"{yes} Yes, {len(result.items) - yes} No; written to {out}")


@security_app.command("sbom")
def sbom_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
) -> None:
    """The CycloneDX 1.6 SBOM of this installation (every installed Python distribution)."""
    from raddx.security.sbom import build_sbom

    text = build_sbom()
    if out is None:
        typer.echo(text)
        return
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)
    typer.echo(f"SBOM written to {out}")
