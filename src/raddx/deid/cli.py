"""``raddx deid``: de-identify files and folders, and check the result for leaks.

A door (ARCHITECTURE.md): it parses options, calls ``deid.run`` / ``deid.verify`` and prints.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from raddx._cli_options import DatabaseUrl, DataDir, Quiet, load_cli_settings
from raddx.deid.editions import diff_tables, load_table, vendored_editions
from raddx.deid.engine import ActionRecord
from raddx.deid.keys import KEY_ENV, ProjectKey, read_key
from raddx.deid.mapping import MappingEncoding
from raddx.deid.policy import Policy, list_policies, load_policy
from raddx.deid.recipes import import_ctp_script, import_deid_recipe
from raddx.deid.registry import DatabaseRegistry
from raddx.deid.run import FileOutcome, deidentify_paths
from raddx.deid.seal import read_seal_key
from raddx.deid.verify import verify_paths
from raddx.errors import InvalidInput, NotFound

__all__ = ["deid_app"]

deid_app = typer.Typer(
    help="De-identification (DICOM PS3.15 Annex E; JESRA TR-0045/TR-0047).",
    no_args_is_help=True,
)

PolicyOption = Annotated[
    str,
    typer.Option(
        "--policy",
        "-p",
        help=f"Shipped policy ({', '.join(list_policies())}) or a YAML/JSON policy file.",
    ),
]


def _policy(name: str) -> Policy:
    try:
        return load_policy(name)
    except ValueError as exc:
        typer.echo(f"raddx deid: invalid policy: {exc}", err=True)
        raise typer.Exit(2) from None


def _key(policy: Policy, key_file: Path | None) -> ProjectKey:
    if policy.key == "ephemeral":
        return ProjectKey.random()
    try:
        return read_key(key_file)
    except ValueError as exc:
        typer.echo(f"raddx deid: {exc}", err=True)
        raise typer.Exit(2) from None


@deid_app.command("run")
def run(
    paths: Annotated[
        list[Path], typer.Argument(help="Files, folders (recursive) and zip archives.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
    policy: PolicyOption = "anonymize",
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help=f"Project key for linkable policies [${KEY_ENV}]."),
    ] = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(help="Quarantine folder [default: OUT-quarantine, beside OUT]."),
    ] = None,
    what_if: Annotated[
        bool, typer.Option("--what-if", help="List every action per file; write nothing.")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes (the output is the same for any number).",
        ),
    ] = 1,
    mapping_csv: Annotated[
        Path | None,
        typer.Option(
            "--mapping-csv",
            help="Write the correspondence table (original → pseudonymous PatientID, "
            "accession, Study/Series/SOP UIDs, date offset) to this file, 0600; refused "
            "inside OUT or the quarantine. Keep it apart from the data (APPI 仮名加工情報).",
        ),
    ] = None,
    mapping_encoding: Annotated[
        MappingEncoding,
        typer.Option(
            "--mapping-encoding",
            help="utf-8, utf-8-sig (with BOM: Excel opens it as UTF-8) or cp932.",
        ),
    ] = "utf-8",
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    quiet: Quiet = False,
) -> None:
    """De-identify DICOM files into OUT as ``<Study>/<Series>/<SOP>.dcm`` with a
    ``manifest.json`` (profile edition, policy, config hash, key id).

    Corrupt files and high-risk objects (US, secondary capture, BurnedInAnnotation YES) are
    copied to the quarantine folder with their reason in ``reasons.jsonl``; the run goes on.
    A policy with ``registry: database`` keeps pseudonyms and date offsets in the index
    database (--data-dir / --database-url), auditing every lookup.
    Exits 1 if anything was quarantined, 2 on a usage error (e.g. OUT not writable).
    """
    missing = [p for p in paths if not p.exists()]
    if missing:
        typer.echo(f"raddx deid: no such file or folder: {', '.join(map(str, missing))}", err=True)
        raise typer.Exit(2)
    chosen = _policy(policy)
    key = _key(chosen, key_file)
    quarantine_dir = quarantine or out.with_name(out.name + "-quarantine")
    registry_url = None
    if chosen.registry == "database":
        settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
        registry_url = settings.resolved_database_url

    progress = _progress(quiet or what_if)
    task = progress.add_task("de-identifying", total=None)

    def _show(outcome: FileOutcome) -> None:
        progress.advance(task)
        if not what_if:
            return
        verdict = f"quarantine: {outcome.reason}" if outcome.reason else f"→ {outcome.output}"
        typer.echo(f"{outcome.source} {verdict}")
        for action in outcome.actions:
            typer.echo(f"    {_describe(action)}")

    try:
        with progress:
            summary = deidentify_paths(
                paths,
                out_dir=out,
                quarantine_dir=quarantine_dir,
                policy=chosen,
                key=key,
                what_if=what_if,
                on_file=_show,
                jobs=jobs,
                database_url=registry_url,
                on_start=lambda total: progress.update(task, total=total),
                mapping_csv=mapping_csv,
                mapping_encoding=mapping_encoding,
            )
    except InvalidInput as exc:
        typer.echo(f"raddx deid: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(summary.render())
    if summary.manifest is not None:
        typer.echo(f"manifest    {summary.manifest}")
    if summary.mapping is not None:
        typer.echo(f"mapping     {summary.mapping} (0600: keep it apart from the output)")
    raise typer.Exit(1 if summary.quarantined else 0)


def _progress(disable: bool) -> Progress:
    """A progress bar on stderr (only on a terminal; never mixed into ``--what-if`` output)."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        disable=disable or not sys.stderr.isatty(),
        transient=True,
    )


def _describe(action: ActionRecord) -> str:
    return str(action)


@deid_app.command("verify")
def verify(
    inputs: Annotated[Path, typer.Argument(help="The original files (folder or file).")],
    output: Annotated[Path, typer.Argument(help="The de-identified folder.")],
    policy: PolicyOption = "anonymize",
) -> None:
    """Report every PHI token of INPUTS that survived in OUTPUT (decoded values at every
    depth, private and file meta included, and raw bytes) and every output missing
    PatientIdentityRemoved and the other required attributes. Exits 1 on any finding."""
    report = verify_paths([inputs], output, policy=_policy(policy))
    for finding in report.findings:
        typer.echo(f"LEAK {finding}" if finding.where != "required" else f"MISSING {finding}")
    typer.echo(
        f"checked {report.outputs} output(s) against {report.tokens} token(s) from "
        f"{report.inputs} input(s): {len(report.findings)} finding(s)"
    )
    if report.outputs == 0:
        typer.echo("raddx deid verify: no DICOM output found", err=True)
    raise typer.Exit(0 if report.ok else 1)


@deid_app.command("policies")
def policies() -> None:
    """List the shipped policies (copy one with ``--policy FILE`` to customise)."""
    for name in list_policies():
        typer.echo(f"{name:<14}{load_policy(name).description}")


@deid_app.command("import-recipe")
def import_recipe(
    recipe: Annotated[Path, typer.Argument(help="A deid recipe or a CTP anonymizer script.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The policy file to write (YAML).")],
    name: Annotated[str, typer.Option(help="The policy's name.")] = "imported",
) -> None:
    """Convert a pydicom/deid recipe (FORMAT dicom) or an RSNA CTP DicomAnonymizer script
    (<script>) into a raddx policy file, printing what was approximated and what could not be
    mapped. Review the policy before use (``--what-if``)."""
    try:
        text = recipe.read_text(encoding="utf-8")
        if text.lstrip().startswith("<"):
            result = import_ctp_script(text, name=name)
        else:
            result = import_deid_recipe(text, name=name)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        typer.echo(f"raddx deid import-recipe: {recipe}: {exc}", err=True)
        raise typer.Exit(2) from None
    if out.exists():
        typer.echo(f"raddx deid import-recipe: {out} exists; not overwritten", err=True)
        raise typer.Exit(2)
    out.write_text(
        yaml.safe_dump(result.policy, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    for line in result.report():
        typer.echo(line)
    typer.echo(
        f"wrote {out}: {len(result.policy['overrides'])} override(s), "
        f"{len(result.unmapped)} line(s) not mapped"
    )


registry_app = typer.Typer(
    help="The pseudonym registry in the index database (policy registry: database).",
    no_args_is_help=True,
)
deid_app.add_typer(registry_app, name="registry")


@registry_app.command("reveal")
def registry_reveal(
    pseudonym: Annotated[str, typer.Argument(help="A PatientID written by a registry run.")],
    key_file: Annotated[
        Path | None,
        typer.Option("--key-file", help=f"The project's key [${KEY_ENV}]."),
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Print the original IssuerOfPatientID and PatientID behind PSEUDONYM (the data
    controller's re-identification, APPI 仮名加工情報 対応表). Needs the project key and the
    registry key ($RADDX_DEID_REGISTRY_KEY or _FILE); only sealed rows hold an identity. Every
    use is audited ("revealed"). Exits 1 when no row has that pseudonym."""
    try:
        key = read_key(key_file)
        seal_key = read_seal_key()
    except ValueError as exc:
        typer.echo(f"raddx deid registry reveal: {exc}", err=True)
        raise typer.Exit(2) from None
    if seal_key is None:
        typer.echo(
            "raddx deid registry reveal: needs the registry key ($RADDX_DEID_REGISTRY_KEY)",
            err=True,
        )
        raise typer.Exit(2)
    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    registry = DatabaseRegistry.from_url(
        settings.resolved_database_url, key=key, min_days=0, max_days=0,
        actor="raddx deid registry reveal", seal_key=seal_key,
    )  # fmt: skip
    try:
        identity = registry.reveal(pseudonym)
    except NotFound as exc:
        typer.echo(f"raddx deid registry reveal: {exc}", err=True)
        raise typer.Exit(1) from None
    except ValueError as exc:
        typer.echo(f"raddx deid registry reveal: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        registry.close()
    issuer, _, rest = identity.partition("\0")
    patient_id, _, extra = rest.partition("\0")
    typer.echo(f"IssuerOfPatientID {issuer}")
    typer.echo(f"PatientID         {patient_id}")
    if extra:  # no PatientID in the input: name and birth date identified the patient
        name, _, birth = extra.partition("\0")
        typer.echo(f"PatientName       {name}")
        typer.echo(f"PatientBirthDate  {birth}")


table_app = typer.Typer(
    help="The vendored PS3.15 Table E.1-1 editions and what changed between them.",
    no_args_is_help=True,
)
deid_app.add_typer(table_app, name="table")


@table_app.command("editions")
def table_editions() -> None:
    """List the vendored editions of Table E.1-1 (the first is the one the engine uses)."""
    for edition in vendored_editions():
        typer.echo(edition)


@table_app.command("diff")
def table_diff(
    old: Annotated[str, typer.Argument(help="Vendored edition (e.g. 2024b) or a table file.")],
    new: Annotated[str, typer.Argument(help="Vendored edition (e.g. 2026d) or a table file.")],
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit 1 when the editions differ.")
    ] = False,
) -> None:
    """Print the rows added (+), removed (-) and changed (~) from OLD to NEW, per action column
    (basic, or the CID 7050 code of an option)."""
    try:
        diff = diff_tables(load_table(old), load_table(new))
    except InvalidInput as exc:
        typer.echo(f"raddx deid table diff: {exc}", err=True)
        raise typer.Exit(2) from None
    for line in diff.lines():
        typer.echo(line)
    raise typer.Exit(1 if exit_code and not diff.empty else 0)


if __name__ == "__main__":  # pragma: no cover
    deid_app(sys.argv[1:])
