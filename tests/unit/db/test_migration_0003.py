"""Migration 0003 on an index that already holds data, on SQLite and PostgreSQL: the derived
columns (fuzzy name keys, UTC instants) are filled for existing rows, and it downgrades."""

from __future__ import annotations

from alembic import command
from sqlalchemy import Engine, text

from raddx.db import make_engine
from raddx.db.migrate import alembic_config, upgrade


def _rows(engine: Engine, sql: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def test_upgrade_fills_existing_rows_and_downgrades(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patient (patient_id, issuer_of_patient_id, patient_name, "
                    "patient_name_alphabetic, patient_name_ideographic, patient_name_phonetic, "
                    "created_at, updated_at) VALUES ('P1', '', :name, 'Satou^Tarou', "
                    "'髙橋^太郎', 'さとう^たろう', :now, :now)"
                ),
                {"name": "Satou^Tarou=髙橋^太郎=さとう^たろう", "now": "2024-01-01 00:00:00"},
            )
            patient = conn.execute(text("SELECT id FROM patient")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO study (study_instance_uid, patient_fk, study_date, study_time, "
                    "timezone_offset_from_utc, referring_physician_name_phonetic, "
                    "modalities_in_study, sop_classes_in_study, number_of_study_related_series, "
                    "number_of_study_related_instances, study_size, patient_conflict, "
                    "created_at, updated_at) VALUES ('1.2.3', :patient, '20240101', '080000', "
                    "'+0900', 'ヤマダ', '', '', 1, 1, 0, :no, :now, :now)"
                ),
                {"patient": patient, "no": False, "now": "2024-01-01 00:00:00"},
            )
            study = conn.execute(text("SELECT id FROM study")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO series (series_instance_uid, study_fk, "
                    "number_of_series_related_instances, series_size, created_at, updated_at) "
                    "VALUES ('1.2.3.4', :study, 1, 0, :now, :now)"
                ),
                {"study": study, "now": "2024-01-01 00:00:00"},
            )
            series = conn.execute(text("SELECT id FROM series")).scalar_one()
            conn.execute(
                text(
                    "INSERT INTO instance (sop_instance_uid, series_fk, sop_class_uid, "
                    "acquisition_date_time, transfer_syntax_uid, blob_key, size, sha256, "
                    "received_at, source, replaced_count) VALUES ('1.2.3.4.5', :series, "
                    "'1.2.840.10008.5.1.4.1.1.7', '20240101083000', '1.2.840.10008.1.2.1', "
                    "'k', 1, 'x', :now, 'test', 0)"
                ),
                {"series": series, "now": "2024-01-01 00:00:00"},
            )
        upgrade(engine)
        assert _rows(
            engine,
            "SELECT patient_name_alphabetic_fuzzy, patient_name_ideographic_fuzzy, "
            "patient_name_phonetic_fuzzy FROM patient",
        ) == [("SATO^TARO", "高橋^太郎", "SATO^TARO")]
        assert _rows(
            engine, "SELECT study_date_time_utc, referring_physician_name_phonetic_fuzzy FROM study"
        ) == [("20231231230000", "YAMADA")]
        # The object's TimezoneOffsetFromUTC (kept on the study) applies to its DT values.
        assert _rows(engine, "SELECT acquisition_date_time_utc FROM instance") == [
            ("20231231233000",)
        ]
        config = alembic_config()
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        assert _rows(engine, "SELECT patient_id FROM patient") == [("P1",)]
        upgrade(engine)
        assert _rows(engine, "SELECT study_date_time_utc FROM study") == [("20231231230000",)]
    finally:
        engine.dispose()
