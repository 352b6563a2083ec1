"""Importing pydicom/deid recipes and CTP anonymizer scripts as raddx policies."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from raddx.deid import load_policy
from raddx.deid.cli import deid_app
from raddx.deid.policy import Policy
from raddx.deid.recipes import import_ctp_script, import_deid_recipe

DEID_RECIPE = """FORMAT dicom

%header

ADD PatientIdentityRemoved YES
REPLACE PatientID var:id
BLANK PatientName
KEEP Modality
REMOVE OperatorsName
JITTER StudyDate 30
REMOVE contains:Collimation
KEEP 00291010

%filter dicom
LABEL Burned In Annotation
  contains ImageType SAVE
"""

CTP_SCRIPT = """<script>
  <p t="DATEINC">-3210</p>
  <p t="UIDROOT">1.2.3</p>
  <e en="T" t="00100010" n="PatientName">@empty()</e>
  <e en="T" t="00100020" n="PatientID">@hash(this,10)</e>
  <e en="T" t="00080020" n="StudyDate">@incrementdate(this,@DATEINC)</e>
  <e en="T" t="00080018" n="SOPInstanceUID">@hashuid(@UIDROOT,this)</e>
  <e en="T" t="00081030" n="StudyDescription">@keep()</e>
  <e en="T" t="00080080" n="InstitutionName">@lookup(this,Institution)</e>
  <e en="F" t="00081070" n="OperatorsName">@remove()</e>
  <e en="T" t="00081050" n="PerformingPhysicianName">@remove()</e>
  <k en="T" t="0018">Keep group 0018</k>
  <r en="T" t="privategroups">Remove private groups</r>
  <r en="T" t="unspecifiedelements">Remove unchecked elements</r>
</script>
"""


def test_deid_recipe() -> None:
    result = import_deid_recipe(DEID_RECIPE, name="from-deid")
    policy = Policy.model_validate(result.policy)
    assert policy.overrides == {
        "PatientID": "D", "PatientName": "Z", "Modality": "K", "OperatorsName": "X",
        "StudyDate": "C", "00291010": "K",
    }  # fmt: skip
    assert [o.name.lower() for o in policy.options] == ["retain_longitudinal_modified_dates"]
    assert (policy.date_shift.min_days, policy.date_shift.max_days) == (30, 30)
    report = "\n".join(result.report())
    assert "line 5: ADD PatientIdentityRemoved YES" in report  # not mapped, and why
    assert "contains:Collimation" in report
    assert "%filter" in report
    assert "not 'var:id'" in report  # approximated: a dummy instead of the recipe's value


def test_ctp_script() -> None:
    result = import_ctp_script(CTP_SCRIPT, name="from-ctp")
    policy = Policy.model_validate(result.policy)
    assert policy.overrides == {
        "PatientName": "Z", "PatientID": "P", "StudyDate": "C", "SOPInstanceUID": "U",
        "StudyDescription": "K", "InstitutionName": "D", "PerformingPhysicianName": "X",
    }  # fmt: skip
    assert "OperatorsName" not in policy.overrides  # en="F": disabled in the script
    assert policy.date_shift.min_days == policy.date_shift.max_days == 3210
    report = "\n".join(result.report())
    assert "NOT MAPPED: <k t='0018'>" in report
    assert "NOT MAPPED: <r t='unspecifiedelements'>" in report
    assert "note: <r t='privategroups'>" in report


@pytest.mark.parametrize(
    ("importer", "text", "message"),
    [
        (import_deid_recipe, "%header\nKEEP PatientName\n", "FORMAT dicom"),
        (import_ctp_script, "<script><e t='0010'>", "not a CTP script"),
        (import_ctp_script, "<anonymizer/>", "not <script>"),
    ],
)
def test_not_a_recipe(importer: object, text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        importer(text)  # type: ignore[operator]


def test_cli_writes_a_loadable_policy(tmp_path: Path) -> None:
    recipe = tmp_path / "deid.dicom"
    recipe.write_text(DEID_RECIPE, encoding="utf-8")
    out = tmp_path / "policy.yaml"
    runner = CliRunner()
    result = runner.invoke(deid_app, ["import-recipe", str(recipe), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "6 override(s), 4 line(s) not mapped"  # ADD, contains:, 2 in %filter in result.output
    assert load_policy(out).overrides["PatientName"] == "Z"
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["name"] == "imported"
    again = runner.invoke(deid_app, ["import-recipe", str(recipe), "-o", str(out)])
    assert again.exit_code == 2  # never overwrites
    ctp = tmp_path / "anonymizer.script"
    ctp.write_text(CTP_SCRIPT, encoding="utf-8")
    made = runner.invoke(deid_app, ["import-recipe", str(ctp), "-o", str(tmp_path / "c.yaml")])
    assert made.exit_code == 0, made.output
    missing = runner.invoke(deid_app, ["import-recipe", str(tmp_path / "x"), "-o", str(out)])
    assert missing.exit_code == 2
