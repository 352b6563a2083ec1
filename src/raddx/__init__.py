"""raddx: a medical-imaging information system (PACS, RIS, reports, de-identification)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
