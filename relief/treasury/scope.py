"""The one way treasurer code reads a chapter's rows: every query is narrowed to the chapter.

A row of another chapter is reported exactly like a row that does not exist (``NotFound``,
a 404), so ids reveal nothing.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, overload

from sqlalchemy.sql.elements import SQLCoreOperations
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from relief.errors import NotFound
from relief.ledger import owner
from relief.models import Chapter, Drive, DriveChapter


class ChapterRow(Protocol):
    """A table whose rows each belong to one chapter."""

    id: Any
    chapter_id: Any


T = TypeVar("T", bound=ChapterRow)
U = TypeVar("U")


@overload
def rows_of(model: type[T], chapter: Chapter, /) -> SelectOfScalar[T]: ...
@overload
def rows_of(
    model: type[T], chapter: Chapter, also: type[U] | SQLCoreOperations[U], /
) -> Select[T, U]: ...
@overload
def rows_of(model: type[T], chapter: Chapter, /, *also: Any) -> Select[T, *tuple[Any, ...]]: ...
def rows_of(model, chapter, *also):
    """``SELECT model [, also…] WHERE model.chapter_id = chapter`` — extend it (joins, more
    conditions, order); the chapter condition stays."""
    return select(model, *also).where(model.chapter_id == chapter.id)


def books_of(model, chapter: Chapter, *also):
    """``SELECT model [, also…]`` of the rows in the chapter's books (Entry or Gift): those
    naming it, and in a drive it hosts those naming no chapter (``ledger.owner``). For what
    the chapter accounts for; :func:`rows_of` for what it was credited or entered."""
    return select(model, *also).where(owner.owned_by(model, chapter.id))


def columns_in_books(model, chapter: Chapter, *columns):
    """``SELECT columns…`` of the rows of ``model`` in the chapter's books, as
    :func:`books_of` finds them: plain rows, for a file of many lines (an ORM object a line
    cost a CSV a third of its time)."""
    return select(*columns).where(owner.owned_by(model, chapter.id))


def get_owned(session: Session, model: type[T], object_id: int, chapter: Chapter, what: str) -> T:
    """The ``model`` row with this id if it belongs to ``chapter``; else NotFound."""
    row = session.exec(rows_of(model, chapter).where(model.id == object_id)).first()
    if row is None:
        raise NotFound(f"There is no {what} #{object_id} in {chapter.name}.")
    return row


def get_in_books(
    session: Session, model: type[T], object_id: int, chapter: Chapter, what: str
) -> T:
    """The ``model`` row (Entry or Gift) with this id if it is in ``chapter``'s books (see
    :func:`books_of`: a host also holds the whole drive's); else NotFound."""
    row = session.exec(books_of(model, chapter).where(model.id == object_id)).first()
    if row is None:
        raise NotFound(f"There is no {what} #{object_id} in {chapter.name}.")
    return row


def drives_of(session: Session, chapter: Chapter) -> list[Drive]:
    """The drives the chapter takes part in, newest first."""
    return list(
        session.exec(
            select(Drive)
            .join(DriveChapter, col(DriveChapter.drive_id) == Drive.id)
            .where(DriveChapter.chapter_id == chapter.id)
            .order_by(col(Drive.starts_on).desc(), col(Drive.id).desc())
        )
    )


def drive_of(session: Session, chapter: Chapter, drive_id: int | str | None) -> Drive:
    """One of the chapter's drives, by id; NotFound for a drive it does not take part in."""
    if drive_id is None:
        raise NotFound("Choose one of the chapter's drives.")
    try:
        wanted = int(drive_id)
    except (TypeError, ValueError):
        raise NotFound("Choose one of the chapter's drives.") from None
    drive = session.exec(
        select(Drive)
        .join(DriveChapter, col(DriveChapter.drive_id) == Drive.id)
        .where(DriveChapter.chapter_id == chapter.id, Drive.id == wanted)
    ).first()
    if drive is None:
        raise NotFound(f"{chapter.name} takes part in no drive #{wanted}.")
    return drive
