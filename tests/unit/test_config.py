from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from raddx.config import DuplicatePolicyValues, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings()
    assert settings.ae_title == "RADDX"
    assert settings.dicom_port == 11112
    assert settings.http_port == 8080
    assert settings.resolved_storage_path == Path("data/blobs")
    assert settings.resolved_database_url == "sqlite:///data/index.sqlite"
    assert settings.duplicate_policy is DuplicatePolicyValues.REPLACE
    assert settings.fsync is True


def test_toml_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "raddx.toml"
    toml.write_text(
        'ae_title = "TOMLAE"\ndicom_port = 104\nhttp_port = 9000\n'
        '[[remote_aes]]\nae_title = "VIEWER"\nhost = "10.0.0.5"\nport = 11113\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("RADDX_CONFIG", str(toml))
    settings = load_settings()
    assert (settings.ae_title, settings.dicom_port) == ("TOMLAE", 104)
    assert settings.remote_aes[0].ae_title == "VIEWER"
    assert settings.remote_aes[0].port == 11113
    monkeypatch.setenv("RADDX_DICOM_PORT", "4242")
    monkeypatch.setenv(
        "RADDX_REMOTE_AES", '[{"ae_title": "PACS2", "host": "pacs2.local", "port": 104}]'
    )
    settings = load_settings()
    assert settings.dicom_port == 4242  # environment beats the file
    assert settings.http_port == 9000  # the file still supplies what the env does not
    assert [ae.ae_title for ae in settings.remote_aes] == ["PACS2"]
    assert load_settings(dicom_port=5000).dicom_port == 5000  # arguments beat both


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ae_title", "THIS_AE_TITLE_IS_TOO_LONG"),
        ("ae_title", "BACK\\SLASH"),
        ("ae_title", "    "),
        ("dicom_port", 70000),
        ("sqlite_synchronous", "SOMETIMES"),
        ("duplicate_policy", "merge"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_named(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        load_settings(**{field: value})


def test_unknown_setting_in_toml_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in raddx.toml must not be silently ignored."""
    toml = tmp_path / "raddx.toml"
    toml.write_text("ae_titel = 'TYPO'\n", encoding="utf-8")
    monkeypatch.setenv("RADDX_CONFIG", str(toml))
    with pytest.raises(ValidationError, match="ae_titel"):
        load_settings()
