"""Fixtures of the browser end-to-end tests; the helpers are in ``e2e_support``."""

from e2e_support import e2e_ready

__all__ = ["e2e_ready"]
