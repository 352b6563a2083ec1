"""``raddx fixity``, ``raddx backup create|verify|list`` and ``raddx restore`` (issue 9)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from raddx._cli_options import DatabaseUrl, DataDir, load_cli_settings

__all__ = ["backup_app", "fixity", "restore", "storage_app"]

storage_app = typer.Typer(help="Blob store maintenance (encryption at rest).", no_args_is_help=True)

backup_app = typer.Typer(
    help="Back up the index, blobs and configuration with a SHA-256 manifest; verify a backup.",
    no_args_is_help=True,
)


def fixity(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Re-hash every stored object and compare with the SHA-256 recorded at ingest.

    Prints each missing or changed object and records it as a Security Alert in the audit
    trail; exits 1 if any object failed, 0 if all are intact.
    """
    from raddx.security.fixity import check_fixity
    from raddx.services import Services

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    services = Services.from_settings(settings)
    try:
        report = check_fixity(session_factory=services.session_factory, blobs=services.blobs)
    finally:
        services.close()
    for problem in report.problems:
        typer.echo(f"{problem.problem.upper()} {problem.sop_instance_uid} blob={problem.blob_key}")
    typer.echo(
        f"checked {report.checked} objects ({report.bytes_read} bytes): "
        f"{len(report.problems)} problem(s)"
    )
    raise typer.Exit(0 if report.ok else 1)


@backup_app.command("create")
def create(
    destination: Annotated[Path, typer.Argument(help="Folder that holds the generations.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Write a new backup generation into DESTINATION and keep the newest backup_generations.

    SQLite is copied with its online backup API (raddx may keep running); PostgreSQL with
    pg_dump. Prints the generation's path.
    """
    from raddx.security.backup import BackupError, create_backup

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    try:
        generation = create_backup(settings, destination)
    except BackupError as exc:
        typer.echo(f"raddx: backup failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(str(generation))


@backup_app.command("verify")
def verify(
    generation: Annotated[Path, typer.Argument(help="A backup generation folder.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Re-hash every file of a backup against its manifest; exit 1 on any difference. With
    backup_signing_key_file configured, the manifest's signature must match too."""
    from raddx.security.backup import BackupError, signing_key, verify_backup

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    try:
        key = signing_key(settings)
    except BackupError as exc:
        typer.echo(f"raddx: {exc}", err=True)
        raise typer.Exit(1) from None
    problems = verify_backup(generation, key)
    for problem in problems:
        typer.echo(problem)
    typer.echo("backup intact" if not problems else f"{len(problems)} problem(s)")
    raise typer.Exit(0 if not problems else 1)


@backup_app.command("list")
def list_(
    destination: Annotated[Path, typer.Argument(help="Folder that holds the generations.")],
) -> None:
    """The backup generations in DESTINATION, oldest first."""
    from raddx.security.backup import list_generations

    for generation in list_generations(destination):
        typer.echo(str(generation))


def restore(
    generation: Annotated[Path, typer.Argument(help="A backup generation folder.")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing index and blobs.")
    ] = False,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Restore the index and blobs from a backup generation (stop raddx first).

    The backup is verified first; a backup that does not verify is refused (exit 1).
    """
    from raddx.security.backup import BackupError, restore_backup

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    try:
        restore_backup(settings, generation, force=force)
    except BackupError as exc:
        typer.echo(f"raddx: restore refused: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"restored from {generation}")


@storage_app.command("rotate-key")
def rotate_key(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Re-seal every blob with the newest key of blob_encryption_key_file (also encrypts
    blobs stored in the clear); afterwards older keys can be removed from the file."""
    from raddx.storage.encrypted import EncryptedFileBlobStore, keyring_from_settings

    settings = load_cli_settings(data_dir=data_dir, database_url=database_url)
    keyring = keyring_from_settings(settings)
    if keyring is None:
        typer.echo("raddx: no encryption key configured (blob_encryption_key_file)", err=True)
        raise typer.Exit(2)
    store = EncryptedFileBlobStore(settings.resolved_storage_path, keyring=keyring)
    typer.echo(f"re-sealed {store.rotate()} blob(s) with key {keyring.current}")
