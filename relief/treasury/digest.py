"""The treasurers' daily digest: an opt-in email of what needs attention in their chapters.

One email a day per person who asked for it (``User.digest``), at RELIEF_DIGEST_HOUR in the
coalition's time zone, queued by the outbox worker (one job per person and day, so a second
worker or a restart queues nothing twice) and built when it is sent. Nothing needs attention:
nothing is sent. Each carries a one-click unsubscribe link (RFC 8058), so leaving it needs no
sign-in. What it lists is what the dashboard's "Needs attention" shows, plus disputes opened
since yesterday and last month when it is not closed; an admin's adds Stripe events held for
a person and gifts of no chapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session, col, func, select

from relief.ledger import months as calendar
from relief.models import Chapter, Entry, EntryKind, Membership, Role, User, present
from relief.outbox import due
from relief.payments import webhooks
from relief.treasury import dashboard, gifts, months, scope
from relief.treasury.dashboard import Attention

DEFAULT_HOUR = 7
_SALT = "relief.digest.unsubscribe"


@dataclass(frozen=True)
class ChapterDigest:
    chapter: Chapter
    attention: Attention
    #: Disputes opened in the last day, in the chapter's books.
    disputes_opened: int
    #: Last month, when it has ended and is not closed.
    month_to_close: date | None

    @property
    def anything(self) -> bool:
        return self.attention.anything or bool(self.disputes_opened or self.month_to_close)


@dataclass(frozen=True)
class Digest:
    user: User
    day: date
    chapters: tuple[ChapterDigest, ...]
    #: Admins only: Stripe events held for a person, gifts credited to no chapter.
    held_events: int = 0
    gifts_of_no_chapter: int = 0

    @property
    def anything(self) -> bool:
        return bool(self.chapters or self.held_events or self.gifts_of_no_chapter)


def _chapters(session: Session, user: User) -> list[Chapter]:
    if user.is_admin:
        return list(session.exec(select(Chapter).order_by(Chapter.name)))
    return list(
        session.exec(
            select(Chapter)
            .join(Membership, col(Membership.chapter_id) == Chapter.id)
            .where(Membership.user_id == user.id, Membership.role == Role.TREASURER)
            .order_by(Chapter.name)
        )
    )


def _disputes_since(session: Session, chapter: Chapter, since: datetime) -> int:
    query = scope.books_of(Entry, chapter).where(
        Entry.kind == EntryKind.DISPUTE_WITHDRAWN, col(Entry.effective_at) >= since
    )
    return session.exec(select(func.count()).select_from(query.subquery())).one()


def build(session: Session, user: User, now: datetime) -> Digest:
    """What needs this person's attention now (only the chapters with something)."""
    today = calendar.today(now)
    last_month = calendar.previous_month(calendar.first_of_month(today))
    sections = []
    for chapter in _chapters(session, user):
        closed = set(months.closed_months(session, chapter))
        section = ChapterDigest(
            chapter=chapter,
            attention=dashboard.attention(session, chapter),
            disputes_opened=_disputes_since(session, chapter, now - timedelta(days=1)),
            month_to_close=None if last_month in closed else last_month,
        )
        if section.anything:
            sections.append(section)
    return Digest(
        user=user,
        day=today,
        chapters=tuple(sections),
        held_events=webhooks.held_count(session) if user.is_admin else 0,
        gifts_of_no_chapter=len(gifts.unassigned_of_no_chapter(session)) if user.is_admin else 0,
    )


def readers(session: Session) -> list[User]:
    """Who asked for the digest and may still sign in."""
    return list(
        session.exec(select(User).where(col(User.digest).is_(True), col(User.removed_at).is_(None)))
    )


def queue_due(session: Session, now: datetime, hour: int = DEFAULT_HOUR) -> int:
    """Queue today's digest for each reader once the coalition's clock reaches ``hour``;
    how many were new (a job per person and day: calling it again queues nothing)."""
    if calendar.local(now).hour < hour:
        return 0
    day = calendar.today(now)
    return sum(due.digest(session, present(user.id), day) for user in readers(session))


def set_choice(session: Session, user: User, wanted: bool) -> bool:
    """Ask for the digest or stop it; whether anything changed."""
    if user.digest == wanted:
        return False
    user.digest = wanted
    session.add(user)
    session.flush()
    return True


def unsubscribe_token(secret: str, user: User) -> str:
    """The token in a digest's unsubscribe link: it names the person, signed; it can only
    stop the digest."""
    return URLSafeSerializer(secret, salt=_SALT).dumps(present(user.id))


def reader_of(session: Session, secret: str, token: str) -> User | None:
    try:
        user_id = URLSafeSerializer(secret, salt=_SALT).loads(token)
    except BadSignature:
        return None
    return session.get(User, user_id) if isinstance(user_id, int) else None
