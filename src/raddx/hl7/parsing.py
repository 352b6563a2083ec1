"""python-hl7's parse, with its parse plan built once per set of delimiters.

``hl7.parse`` reads the delimiters from MSH-1/MSH-2, builds a parse plan, and splits the
message by it; while splitting it builds a new plan object for every field, repetition and
component it visits (``_ParsePlan.next``), and scans each piece for every lower delimiter.
On ``bench/ris.py``'s OMG^O19 that bookkeeping was about half of the parse, and the parse a
fifth of an order's CPU. Here the plan's levels are made once per delimiter set and reused
(python-hl7 builds them with ``self.__class__`` so that a subclass can do exactly this), and
the splitting is python-hl7's own: the result is the same ``hl7.Message``, container for
container (``tests/unit/hl7/test_hl7_parsing.py`` compares them on every sample message).
"""

from __future__ import annotations

import threading
from typing import Any

from hl7 import parser as _parser  # type: ignore[import-untyped]

__all__ = ["parse"]


class _Plan(_parser._ParsePlan):  # type: ignore[misc]
    """A parse plan level that remembers its next level and the delimiters below it."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._below = self.separators[self.separators.find(self.separator) :]
        self._next: _Plan | None = None
        self._last = len(self.containers) == 1

    def next(self) -> _Plan | None:
        if self._last:
            return None
        if self._next is None:
            self._next = super().next()
        return self._next

    def applies(self, text: str) -> bool:
        # A loop, not any(): a generator per parsed piece costs more than the scan itself.
        for separator in self._below:  # noqa: SIM110
            if separator in text:
                return True
        return False


_plans: dict[tuple[str, str, str], _Plan] = {}
_lock = threading.Lock()


def parse(text: str) -> Any:
    """``hl7.parse(text)`` for a decoded message (``str``): the same ``hl7.Message``.

    Raises
    ------
    hl7.ParseException
        The text does not start with MSH (or FHS/BHS), as ``hl7.parse``.
    """
    message = text.strip()
    template = _parser.create_parse_plan(message)  # checks the header, reads the delimiters
    key = (template.separators, template.esc, template.separator)
    plan = _plans.get(key)
    if plan is None or plan.factory is not template.factory:
        plan = _Plan(
            template.separator,
            template.separators,
            template.containers,
            template.esc,
            template.factory,
        )
        with _lock:
            _plans[key] = plan
    return _parser._split(message, plan)


# The names this module relies on: an upgrade of python-hl7 that drops them fails at import,
# not on the first message.
if not (hasattr(_parser, "_split") and hasattr(_parser, "create_parse_plan")):
    raise ImportError("python-hl7 without hl7.parser._split/create_parse_plan")
