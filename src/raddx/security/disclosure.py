"""The security disclosure (MDS2 / JAHIS-JIRA MDS/SDS / MHLW checklist answers) generated from
the control catalog, the running configuration and a recorded test run (issue 9 §6).

Why generated: a hand-written disclosure says "yes" because someone believed it. Here an
answer is "Yes" only when every control claimed for the item is *enabled in this
configuration* (its ``requires`` settings hold) *and* every test named as its evidence ran and
passed in the JUnit XML of a test run (``make test`` writes ``build/test-results/junit.xml``).
Anything else is "No", with the reason, so a disabled feature or a red test can never turn
into a claim. The catalog, ``controls.yaml`` beside this module, is the one place that maps a
control to the form items, the settings it depends on and the tests that prove it.

The form item texts are not reproduced: the MDS2 IDs are HN 1-2019's (NEMA allows reuse of the
form), the Japanese references name the guideline section paraphrased, per
``shared/reference/security-mds.md`` §6.
"""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from raddx import __version__
from raddx.config import Settings

__all__ = [
    "Catalog",
    "Control",
    "ControlResult",
    "Disclosure",
    "ItemAnswer",
    "RecordedRun",
    "build_disclosure",
    "load_catalog",
    "render_csv",
    "render_json",
    "render_markdown",
    "write_xlsx",
]

#: A ``requires`` value meaning "the setting has a value" (a path, a host, a list that is
#: not empty), for controls that are on once something is configured.
SET = "set"


class Control(BaseModel):
    """One control of the catalog (``controls.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^CTL-[A-Z0-9-]+$")
    title: str
    #: ANSI/NEMA HN 1-2019 (MDS2) item IDs this control answers.
    mds2: tuple[str, ...] = ()
    #: Japanese references (MHLW guideline 6.0 / JAHIS-JIRA MDS/SDS / MHLW checklist), paraphrased.
    jp: tuple[str, ...] = ()
    #: Setting name → required value (``"set"``: any non-empty value). All must hold.
    requires: dict[str, Any] = Field(default_factory=dict)
    #: Evidence: pytest node IDs (``path.py`` or ``path.py::test_name``); all must pass.
    tests: tuple[str, ...] = Field(min_length=1)
    docs: tuple[str, ...] = ()
    note: str = ""


class Catalog(BaseModel):
    """The whole catalog: its form versions and controls."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mds2_form: str
    guideline: str
    controls: tuple[Control, ...]


def load_catalog(path: Path | None = None) -> Catalog:
    """The catalog shipped with raddx, or the one at ``path``.

    Raises
    ------
    pydantic.ValidationError
        The file does not follow the catalog's shape (unknown keys, no tests for a control…).
    """
    if path is None:
        text = resources.files("raddx.security").joinpath("controls.yaml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    return Catalog.model_validate(yaml.safe_load(text))


@dataclass(frozen=True, slots=True)
class RecordedRun:
    """Outcomes of one recorded pytest run, by node ID (``tests/x/test_y.py::test_z[param]``)."""

    source: str
    outcomes: Mapping[str, Literal["passed", "failed", "skipped"]]

    @classmethod
    def from_junit(cls, path: Path) -> RecordedRun:
        """Read pytest's ``--junitxml`` file (testcase ``classname`` is the dotted module path)."""
        outcomes: dict[str, Literal["passed", "failed", "skipped"]] = {}
        root = ET.parse(path).getroot()
        for case in root.iter("testcase"):
            module = case.get("classname", "")
            name = case.get("name", "")
            # pytest puts a test class into classname too: tests.unit.test_x.TestThing
            parts = module.split(".")
            path_parts = [p for p in parts if not p[:1].isupper()]
            classes = parts[len(path_parts) :]
            node = "/".join(path_parts) + ".py::" + "::".join([*classes, name])
            if case.find("failure") is not None or case.find("error") is not None:
                outcomes[node] = "failed"
            elif case.find("skipped") is not None:
                outcomes[node] = "skipped"
            else:
                outcomes[node] = "passed"
        return cls(str(path), outcomes)

    def evidence(self, test: str) -> tuple[int, int, int]:
        """``(passed, failed, skipped)`` counts of the cases ``test`` names (a file, a test
        function with all its parameters, or one parametrized case)."""
        passed = failed = skipped = 0
        for node, outcome in self.outcomes.items():
            if not _names(test, node):
                continue
            if outcome == "passed":
                passed += 1
            elif outcome == "failed":
                failed += 1
            else:
                skipped += 1
        return passed, failed, skipped


def _names(test: str, node: str) -> bool:
    if "::" not in test:
        return node.startswith(test + "::")
    return node == test or node.startswith(test + "[") or node.startswith(test + "::")


@dataclass(frozen=True, slots=True)
class ControlResult:
    """A control's verdict in this configuration and test run."""

    control: Control
    enabled: bool
    proven: bool
    reasons: tuple[str, ...]

    @property
    def holds(self) -> bool:
        return self.enabled and self.proven


@dataclass(frozen=True, slots=True)
class ItemAnswer:
    """One form item's answer and why."""

    form: str
    item: str
    answer: Literal["Yes", "No"]
    controls: tuple[str, ...]
    notes: str


@dataclass(frozen=True, slots=True)
class Disclosure:
    """Everything the renderers need."""

    product: str
    version: str
    catalog: Catalog
    test_run: str | None
    controls: tuple[ControlResult, ...]
    items: tuple[ItemAnswer, ...] = field(default=())


def _requirement_holds(settings: Settings, key: str, wanted: Any) -> tuple[bool, str]:
    if key not in Settings.model_fields:
        return False, f"unknown setting {key!r} in the catalog"
    value = getattr(settings, key)
    if wanted == SET:
        ok = value not in (None, "", [], (), {})
        return ok, "" if ok else f"setting {key} is not configured"
    ok = value == wanted
    return ok, "" if ok else f"setting {key} is {value!r}, the control needs {wanted!r}"


def evaluate(control: Control, settings: Settings, run: RecordedRun | None) -> ControlResult:
    """Is ``control`` enabled by ``settings`` and proven by ``run``?"""
    reasons: list[str] = []
    enabled = True
    for key, wanted in control.requires.items():
        ok, why = _requirement_holds(settings, key, wanted)
        if not ok:
            enabled = False
            reasons.append(why)
    proven = run is not None
    if run is None:
        reasons.append("no recorded test run")
    else:
        for test in control.tests:
            passed, failed, skipped = run.evidence(test)
            if failed:
                proven = False
                reasons.append(f"{failed} failed case(s) in {test}")
            elif not passed:
                proven = False
                reasons.append(f"{test} did not run" + (" (skipped)" if skipped else ""))
    return ControlResult(control, enabled, proven, tuple(reasons))


def build_disclosure(catalog: Catalog, settings: Settings, run: RecordedRun | None) -> Disclosure:
    """Evaluate every control and answer every MDS2 item the catalog claims.

    An item is "Yes" only when all the controls claiming it hold; one control that does not
    hold makes it "No", with that control's reasons as the note.
    """
    results = tuple(evaluate(c, settings, run) for c in catalog.controls)
    by_item: dict[tuple[str, str], list[ControlResult]] = {}
    for result in results:
        for item in result.control.mds2:
            by_item.setdefault(("MDS2", item), []).append(result)
        for ref in result.control.jp:
            by_item.setdefault(("JP", ref), []).append(result)
    items = []
    for (form, item), claimed in sorted(by_item.items(), key=lambda kv: _item_key(kv[0])):
        failing = [r for r in claimed if not r.holds]
        notes = "; ".join(f"{r.control.id}: {', '.join(r.reasons)}" for r in failing)
        items.append(
            ItemAnswer(
                form,
                item,
                "No" if failing else "Yes",
                tuple(r.control.id for r in claimed),
                notes,
            )
        )
    return Disclosure(
        "raddx", __version__, catalog, run.source if run else None, results, tuple(items)
    )


def _item_key(key: tuple[str, str]) -> tuple[str, str, tuple[int, ...]]:
    form, item = key
    group, _, number = item.partition("-")
    digits = tuple(int(p) for p in number.split(".") if p.isdigit())
    return form, group, digits


def render_markdown(disclosure: Disclosure) -> str:
    """The human-readable disclosure (DISCLOSURE.md)."""
    out = io.StringIO()
    out.write(f"# Security disclosure — {disclosure.product} {disclosure.version}\n\n")
    out.write(f"- MDS2 form: {disclosure.catalog.mds2_form}\n")
    out.write(f"- Japanese guideline: {disclosure.catalog.guideline}\n")
    out.write(f"- Test evidence: {disclosure.test_run or 'none (every answer is No)'}\n\n")
    out.write("An answer is Yes only when each control claimed for it is enabled in this ")
    out.write("configuration and every test named as its evidence passed in that run.\n\n")
    for form, title in (("MDS2", "MDS2 (ANSI/NEMA HN 1-2019)"), ("JP", "MHLW guideline / MDS-SDS")):
        out.write(f"## {title}\n\n| item | answer | controls | notes |\n|---|---|---|---|\n")
        for item in disclosure.items:
            if item.form == form:
                notes = item.notes.replace("|", "\\|")
                out.write(
                    f"| {item.item} | {item.answer} | {', '.join(item.controls)} | {notes} |\n"
                )
        out.write("\n")
    out.write("## Controls\n\n| control | title | enabled | tests passed | reasons |\n")
    out.write("|---|---|---|---|---|\n")
    for r in disclosure.controls:
        reasons = "; ".join(r.reasons).replace("|", "\\|")
        out.write(
            f"| {r.control.id} | {r.control.title} | {'yes' if r.enabled else 'no'} "
            f"| {'yes' if r.proven else 'no'} | {reasons} |\n"
        )
    return out.getvalue()


def _rows(disclosure: Disclosure) -> Iterable[list[str]]:
    yield ["form", "item", "answer", "controls", "notes"]
    for item in disclosure.items:
        yield [item.form, item.item, item.answer, " ".join(item.controls), item.notes]


def render_csv(disclosure: Disclosure) -> str:
    """The answers as CSV (UTF-8 with BOM, so Excel in a Japanese locale opens it right)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(_rows(disclosure))
    return out.getvalue()


def render_json(disclosure: Disclosure) -> str:
    """The answers and control verdicts as JSON (for tooling and diffing between releases)."""
    body = {
        "product": disclosure.product,
        "version": disclosure.version,
        "mds2_form": disclosure.catalog.mds2_form,
        "guideline": disclosure.catalog.guideline,
        "test_run": disclosure.test_run,
        "items": [
            {
                "form": i.form,
                "item": i.item,
                "answer": i.answer,
                "controls": list(i.controls),
                "notes": i.notes,
            }
            for i in disclosure.items
        ],
        "controls": [
            {
                "id": r.control.id,
                "title": r.control.title,
                "enabled": r.enabled,
                "proven": r.proven,
                "reasons": list(r.reasons),
                "tests": list(r.control.tests),
            }
            for r in disclosure.controls
        ],
    }
    return json.dumps(body, ensure_ascii=False, indent=2) + "\n"


def write_xlsx(disclosure: Disclosure, path: Path) -> None:
    """The answers as an Excel workbook (one sheet per form, for pasting into the official
    MDS2 / MDS-SDS workbooks), written atomically."""
    from openpyxl import Workbook

    book = Workbook()
    first = book.active
    assert first is not None
    book.remove(first)
    for form in ("MDS2", "JP"):
        sheet = book.create_sheet(form)
        sheet.append(["item", "answer", "controls", "notes"])
        for item in disclosure.items:
            if item.form == form:
                sheet.append([item.item, item.answer, " ".join(item.controls), item.notes])
    tmp = path.with_name(path.name + ".tmp")
    book.save(tmp)
    tmp.replace(path)
