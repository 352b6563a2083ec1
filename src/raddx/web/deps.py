"""FastAPI dependencies of the HTTP door, as ``Annotated`` aliases (STYLE anchors: the
FastAPI template's ``deps.py``)."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from raddx.services import Services

__all__ = ["ServicesDep", "get_services"]


def get_services(request: Request) -> Services:
    """The process's long-lived services, put on ``app.state`` by :func:`create_app`."""
    return cast(Services, request.app.state.services)


ServicesDep = Annotated[Services, Depends(get_services)]
