"""Whose books hold an entry (or a gift): the one home of the ownership rule.

Every cent of a drive sits in exactly one chapter's books: the chapter the entry names, or —
when it names none (a gift to the whole drive, a Payment Link gift without a chapter, its
fee, refund and disputes) — the drive's host chapter. Entries keep ``chapter_id`` as recorded
(NULL = the donor chose the whole drive; the fingerprint covers it, so it is never
rewritten); the rule is applied where a chapter's books are read or summed: the month totals
(``ledger.append``, ``bulk``, ``verify``), ``DriveTotals.books`` and, through
:func:`owned_by` (or its :func:`parts`), every query of a chapter's entries or gifts. An
entry of no drive (an unassigned gift's fee) is in no chapter's books until its gift is
assigned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import col, select

from relief.models import Drive


def owner(chapter_id: int | None, host_chapter_id: int) -> int:
    """The chapter whose books hold an entry of a drive: its own chapter, else the host."""
    return host_chapter_id if chapter_id is None else chapter_id


def owned_by(model: Any, chapter_id: int | None) -> ColumnElement[bool]:
    """``WHERE`` a row of ``model`` (Entry or Gift: a ``chapter_id`` and a ``drive_id``) is
    in the chapter's books: it names the chapter, or names none in a drive the chapter
    hosts."""
    return or_(*parts(model, chapter_id))


def parts(model: Any, chapter_id: int | None) -> tuple[ColumnElement[bool], ...]:
    """The two parts of the chapter's books, for a query that reads each apart (an index
    serves each, where none serves their ``OR``): the rows naming the chapter, and those
    naming none in a drive it hosts."""
    hosted = select(Drive.id).where(Drive.host_chapter_id == chapter_id)
    return (
        col(model.chapter_id) == chapter_id,
        and_(col(model.chapter_id).is_(None), col(model.drive_id).in_(hosted)),
    )
