"""Anchors: copies of the audit chain's head kept outside the database.

The hash chain (:mod:`raddx.security.audit_log`) shows an edited, deleted or missing record
to anyone who walks it, but not a rewrite by someone who can write the database: they can
recompute every hash from the changed record on, and the head row with them, and the chain
verifies again. An anchor closes that gap. It is the ``(seq, hash)`` of the head at one
moment, taken with ``raddx audit anchor`` and kept where the database's writers cannot change
it (a WORM share, the syslog collector, a printed log book). Later, ``raddx audit verify
--anchor FILE`` checks that record ``seq`` still carries that hash: a rewrite, or a truncation
below the anchor, then fails verification even though the chain is consistent in itself.

An anchor file holds one JSON object per line (``raddx audit anchor --out FILE`` appends), so
one file can collect the anchors of months; verification checks every line. The syslog
collector's archive is one too: every audit message raddx sends carries its record's
``(seq, hash)`` as structured data (:data:`raddx.security.syslog.CHAIN_SD_ID`), and a file
that is not JSON lines is read as such an archive (every anchor element in it; other lines,
e.g. other programs' messages, are not anchors and are passed over).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from raddx.db.models import AuditChainHead, AuditRecord
from raddx.errors import InvalidInput
from raddx.security.audit_log import GENESIS_HASH
from raddx.security.syslog import CHAIN_SD_ID

__all__ = ["Anchor", "AnchorCheck", "append_anchor", "check_anchors", "read_anchors", "take_anchor"]

_FORMAT = "raddx-audit-anchor/1"
#: An RFC 5424 header's TIMESTAMP, then (after HOST APP PROCID MSGID) our chain element.
_SYSLOG_ANCHOR = re.compile(
    r"(?:(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)) .*?)?\["
    + re.escape(CHAIN_SD_ID)
    + r' seq="(\d+)" hash="([0-9a-f]{64})"\]'
)


@dataclass(frozen=True, slots=True)
class Anchor:
    """The chain head at ``taken_at``: record ``seq`` had hash ``hash``."""

    seq: int
    hash: str
    taken_at: dt.datetime

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": _FORMAT,
                "seq": self.seq,
                "hash": self.hash,
                "taken_at": self.taken_at.astimezone(dt.UTC).isoformat(),
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class AnchorCheck:
    """One anchor checked against the log: ``ok``, or why not."""

    anchor: Anchor
    ok: bool
    reason: str | None = None


def take_anchor(engine: Engine) -> Anchor:
    """The chain head now (``seq`` 0 and the genesis hash while the log is empty)."""
    with Session(engine) as session:
        head = session.get(AuditChainHead, 1)
        if head is None:
            raise InvalidInput("the audit chain head row is missing: run raddx audit verify")
        return Anchor(int(head.seq), str(head.hash), dt.datetime.now(dt.UTC))


def append_anchor(path: Path, anchor: Anchor) -> None:
    """Append one line and fsync it: an anchor that is reported written is on disk."""
    with path.open("a", encoding="utf-8") as file:
        file.write(anchor.to_json() + "\n")
        file.flush()
        os.fsync(file.fileno())


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in ``path``; a line that is not one is refused with its line number (an
    anchor file is evidence: it is never skipped over silently)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the anchor file {path}: {exc.strerror or exc}") from None
    if not text.lstrip().startswith("{"):
        return _syslog_anchors(path, text)
    anchors = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if data.get("format") != _FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, not {_FORMAT!r}")
            seq, digest = data["seq"], data["hash"]
            if not isinstance(seq, int) or seq < 0:
                raise ValueError("seq is not a record number")
            if not isinstance(digest, str) or len(digest) != 64:
                raise ValueError("hash is not a SHA-256 in hex")
            taken = dt.datetime.fromisoformat(data["taken_at"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidInput(f"{path}, line {number}: not an audit anchor ({exc})") from None
        anchors.append(Anchor(seq, digest.lower(), taken))
    if not anchors:
        raise InvalidInput(f"{path} holds no audit anchor")
    return anchors


def _syslog_anchors(path: Path, text: str) -> list[Anchor]:
    """The chain anchors in a syslog collector's archive of raddx's audit messages; the time
    of each is its message's TIMESTAMP (the file's time when a collector dropped it)."""
    fallback = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    anchors = []
    for found in _SYSLOG_ANCHOR.finditer(text):
        when, seq, digest = found.groups()
        taken = fallback
        if when:
            with contextlib.suppress(ValueError):  # a malformed time: the file's time
                taken = dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        anchors.append(Anchor(int(seq), digest, taken))
    if not anchors:
        raise InvalidInput(
            f"{path} is neither an anchor file (raddx audit anchor --out) nor a syslog archive "
            f"with raddx audit messages ([{CHAIN_SD_ID} …] elements)"
        )
    return anchors


def check_anchors(engine: Engine, anchors: list[Anchor]) -> list[AnchorCheck]:
    """Whether each anchored record still exists with the anchored hash."""
    checks = []
    with Session(engine) as session:
        for anchor in anchors:
            if anchor.seq == 0:
                ok = anchor.hash == GENESIS_HASH
                checks.append(AnchorCheck(anchor, ok, None if ok else "not the genesis hash"))
                continue
            stored = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == anchor.seq))
            if stored is None:
                reason = f"record {anchor.seq} is gone (the log was cut back or replaced)"
                checks.append(AnchorCheck(anchor, False, reason))
            elif stored != anchor.hash:
                reason = f"record {anchor.seq} has another hash now (the log was rewritten)"
                checks.append(AnchorCheck(anchor, False, reason))
            else:
                checks.append(AnchorCheck(anchor, True))
    return checks
