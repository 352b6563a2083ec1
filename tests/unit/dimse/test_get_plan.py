"""plan_gets: which C-GETs fetch a study with at most 127 storage classes each."""

from __future__ import annotations

import pytest

from raddx.dimse.get_plan import MAX_STORAGE_CLASSES, GetPlan, StudyInstances, plan_gets

STUDY = "1.2.3"


def _classes(n: int, base: str = "1.2.840.10008.5.1.4.1.1.9999") -> list[str]:
    return [f"{base}.{i}" for i in range(n)]


def _series(*class_counts: int) -> StudyInstances:
    """One series per count, each instance of its own class (classes shared across series
    when counts overlap: series k uses classes 0..count-1)."""
    return {
        f"{STUDY}.{s}": [(f"{STUDY}.{s}.{i}", cls) for i, cls in enumerate(_classes(count))]
        for s, count in enumerate(class_counts)
    }


def _covered(plans: list[GetPlan], series: StudyInstances) -> None:
    """Every instance is fetched by exactly one plan, whose classes include its class."""
    seen: dict[str, int] = {}
    for plan in plans:
        assert plan.sop_classes is not None
        assert len(plan.sop_classes) <= MAX_STORAGE_CLASSES
        for series_uid, instances in series.items():
            for uid, cls in instances:
                if plan.level == "STUDY":
                    hit = True
                elif plan.level == "SERIES":
                    hit = series_uid in plan.keys["SeriesInstanceUID"].split("\\")
                else:
                    hit = uid in plan.keys["SOPInstanceUID"].split("\\")
                if hit:
                    assert cls in plan.sop_classes
                    seen[uid] = seen.get(uid, 0) + 1
    every = {uid for instances in series.values() for uid, _ in instances}
    assert seen == dict.fromkeys(every, 1)


def test_unknown_classes_give_one_study_get_with_the_defaults() -> None:
    (plan,) = plan_gets(STUDY, None)
    assert (plan.level, plan.keys, plan.sop_classes) == (
        "STUDY",
        {"StudyInstanceUID": STUDY},
        None,
    )


@pytest.mark.parametrize(
    ("class_counts", "levels"),
    [
        ((3, 2), ["STUDY"]),  # few classes: exactly those, one C-GET
        ((127,), ["STUDY"]),  # exactly the limit still fits
        ((), ["STUDY"]),  # empty study: one C-GET, answered with zero sub-operations
        ((100, 100), ["STUDY"]),  # overlapping classes: the union (100) fits
        ((100, 50, 50), ["STUDY"]),  # union still 100
    ],
)
def test_classes_that_fit_give_one_study_get(
    class_counts: tuple[int, ...], levels: list[str]
) -> None:
    series = _series(*class_counts)
    plans = plan_gets(STUDY, series)
    assert [p.level for p in plans] == levels
    _covered(plans, series)


def test_too_many_classes_split_by_series() -> None:
    # Disjoint classes: 3 series of 60 classes each, 180 in all.
    series = {
        f"{STUDY}.{s}": [(f"{STUDY}.{s}.{i}", f"1.2.3.9.{s}.{i}") for i in range(60)]
        for s in range(3)
    }
    plans = plan_gets(STUDY, series)
    assert [p.level for p in plans] == ["SERIES", "SERIES"]  # 120 + 60
    _covered(plans, series)


def test_one_series_with_too_many_classes_splits_by_instance() -> None:
    series = {f"{STUDY}.1": [(f"{STUDY}.1.{i}", f"1.2.3.9.{i}") for i in range(300)]}
    plans = plan_gets(STUDY, series)
    assert [p.level for p in plans] == ["IMAGE", "IMAGE", "IMAGE"]  # 127 + 127 + 46
    assert all(p.keys["SeriesInstanceUID"] == f"{STUDY}.1" for p in plans)
    _covered(plans, series)
