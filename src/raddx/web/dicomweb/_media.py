"""Accept-header negotiation (RFC 9110 12.5.1, PS3.18 8.7): which of the representations
we produce the client takes, or :class:`~raddx.web._errors.NotAcceptable`.

A media range's parameters other than ``q`` must agree with the offer: ``type`` (of a
``multipart/related`` range) must name the offer's part type, and ``transfer-syntax`` is
returned to the caller, which decides whether it can honour it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from raddx.web._errors import NotAcceptable

__all__ = ["MediaRange", "negotiate", "parse_accept", "type_matches"]


@dataclass(frozen=True, slots=True)
class MediaRange:
    """One entry of an Accept header: ``type/subtype``, its parameters (names lower-cased,
    quotes removed) and its quality."""

    media_type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def covers(self, offer: str, part_type: str | None) -> bool:
        """Whether this range admits ``offer`` (with ``part_type`` for multipart offers)."""
        main, _, sub = self.media_type.partition("/")
        offer_main, _, offer_sub = offer.partition("/")
        if main not in ("*", offer_main) or sub not in ("*", offer_sub):
            return False
        wanted = self.params.get("type")
        return wanted is None or part_type is None or type_matches(wanted, part_type)


def type_matches(pattern: str, media_type: str) -> bool:
    """Whether ``media_type`` is in ``pattern``, itself a media range: the ``type`` parameter
    of a multipart range may be ``*/*`` or ``image/*`` (dicomweb-client sends
    ``type="*/*"`` for frames)."""
    main, _, sub = pattern.strip().lower().partition("/")
    media_main, _, media_sub = media_type.partition("/")
    return main in ("*", media_main) and sub in ("*", media_sub)


def _split(header: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes (``type="a;b"`` stays whole)."""
    pieces: list[str] = []
    current: list[str] = []
    quoted = False
    for char in header:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            pieces.append("".join(current))
            current = []
        else:
            current.append(char)
    pieces.append("".join(current))
    return [p.strip() for p in pieces if p.strip()]


def parse_accept(header: str | None) -> list[MediaRange]:
    """The media ranges of an Accept header, best first; none (or an empty header) is
    ``*/*`` (RFC 9110: no Accept means anything goes)."""
    if not header or not header.strip():
        return [MediaRange("*/*")]
    ranges = []
    for entry in _split(header, ","):
        media_type, *raw_params = _split(entry, ";")
        params: dict[str, str] = {}
        for raw in raw_params:
            name, _, value = raw.partition("=")
            params[name.strip().lower()] = value.strip().strip('"')
        try:
            q = float(params.pop("q", "1"))
        except ValueError:
            q = 0.0  # unreadable quality: treat the range as "not acceptable" (RFC 9110 12.4.2)
        if q > 0:
            ranges.append(MediaRange(media_type.strip().lower(), params, q))
    return sorted(ranges, key=lambda r: -r.q)


def negotiate(header: str | None, offers: list[tuple[str, str | None]]) -> tuple[str, MediaRange]:
    """The first offer (``(media type, part type)``) the best range admits.

    Returns
    -------
    The chosen media type and the client's range that admitted it (its parameters, e.g.
    ``transfer-syntax``, are for the caller).

    Raises
    ------
    NotAcceptable
        No range admits any offer; the message lists what we produce.
    """
    for media_range in parse_accept(header):
        for offer, part_type in offers:
            if media_range.covers(offer, part_type):
                return offer, media_range
    produced = ", ".join(f'{o}; type="{p}"' if p else o for o, p in offers)
    raise NotAcceptable(f"Accept {header!r} admits nothing we produce; we produce: {produced}")
