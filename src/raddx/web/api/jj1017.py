"""``/api/jj1017``: the hospital's JJ1017 master (imported with ``raddx jj1017 import``).

List and search (name text in kanji, kana or English; modality; code prefix; codes valid on
a date) and one code. The master and its search live in :mod:`raddx.ris.jj1017_master`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel

from raddx.errors import NotFound
from raddx.ris.jj1017_master import resolve, search_master
from raddx.web.api._listing import Limit, Offset
from raddx.web.api._route import api_router, endpoint
from raddx.web.deps import ServicesDep

__all__ = ["router"]

router = api_router("jj1017")


class Jj1017Public(BaseModel):
    """One master code: the JJ1017-32 code, its names, DICOM modality and validity."""

    code: str
    name: str
    name_kana: str | None
    name_english: str | None
    modality: str | None
    valid_from: str | None
    valid_to: str | None
    facility: bool


class Jj1017Page(BaseModel):
    """A page of master codes, in code order, and how many match in all."""

    total: int
    items: list[Jj1017Public]


def _public(row: object) -> Jj1017Public:
    return Jj1017Public.model_validate(row, from_attributes=True)


@endpoint(router, "GET", "/jj1017", action="jj1017.read", response_model=Jj1017Page)
def list_codes(
    services: ServicesDep,
    limit: Limit = 100,
    offset: Offset = 0,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in a name (kanji, kana or English)."),
    ] = None,
    modality: Annotated[
        str | None, Query(pattern=r"^[A-Z0-9_]{1,16}$", description="DICOM modality, e.g. CT.")
    ] = None,
    code: Annotated[
        str | None,
        Query(pattern=r"^[0-9A-Z]{1,32}$", description="Start of the code (6 = CT codes)."),
    ] = None,
    valid_on: Annotated[
        str | None, Query(pattern=r"^\d{8}$", description="Only codes valid on YYYYMMDD.")
    ] = None,
) -> Jj1017Page:
    """Master codes matching every filter given, in code order."""
    with services.session_factory() as session:
        total, rows = search_master(
            session=session,
            text=q,
            modality=modality,
            code_prefix=code,
            valid_on=valid_on,
            limit=limit,
            offset=offset,
        )
        return Jj1017Page(total=total, items=[_public(r) for r in rows])


@endpoint(router, "GET", "/jj1017/{code}", action="jj1017.read", response_model=Jj1017Public)
def get_code(
    services: ServicesDep,
    code: Annotated[str, Path(pattern=r"^[0-9A-Z]{32}$", description="A JJ1017-32 code.")],
) -> Jj1017Public:
    """One master code; 404 when the master does not hold it."""
    with services.session_factory() as session:
        row = resolve(code, session=session)
        if row is None:
            raise NotFound(f"JJ1017 code {code} is not in the master")
        return _public(row)
