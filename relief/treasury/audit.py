"""The audit log: who did what, when, from where. Rows are only ever added.

Written in the same unit of work as the action it describes, so an action that rolls back
leaves no line and a line never describes something that did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, col, select

from relief.models import AuditEvent, Chapter, User


@dataclass(frozen=True)
class Actor:
    """Who acts and from where: a signed-in user and their address, or a CLI command."""

    email: str
    user_id: int | None
    ip: str

    @classmethod
    def of(cls, user: User | None, ip: str | None) -> Actor:
        if user is None or not getattr(user, "id", None):
            return cls(email="(anonymous)", user_id=None, ip=(ip or "")[:64])
        return cls(email=user.email, user_id=user.id, ip=(ip or "")[:64])


CLI = Actor(email="(command line)", user_id=None, ip="cli")


def record(
    session: Session,
    actor: Actor,
    action: str,
    detail: str = "",
    chapter: Chapter | None = None,
) -> AuditEvent:
    event = AuditEvent(
        actor_email=actor.email,
        actor_id=actor.user_id,
        chapter_id=chapter.id if chapter else None,
        action=action[:64],
        detail=detail[:2000],
        ip=actor.ip,
    )
    session.add(event)
    session.flush()
    return event


@dataclass(frozen=True)
class AuditLine:
    event: AuditEvent
    chapter_name: str | None


def recent(session: Session, limit: int = 200, before_id: int | None = None) -> list[AuditLine]:
    """The newest audit lines first, ``limit`` at a time (``before_id`` pages back)."""
    statement = select(AuditEvent, Chapter.name).outerjoin(
        Chapter, col(Chapter.id) == AuditEvent.chapter_id
    )
    if before_id is not None:
        statement = statement.where(col(AuditEvent.id) < before_id)
    rows = session.exec(statement.order_by(col(AuditEvent.id).desc()).limit(limit)).all()
    return [AuditLine(event, name) for event, name in rows]
