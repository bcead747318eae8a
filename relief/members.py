"""Members' own fundraising pages: a chapter member signs up on a drive (name, email,
chapter), gets a one-time link by email (the outbox), writes a short story and a personal goal
and chooses the page's address; an organizer of that chapter approves it, and it is live at
``/drives/<slug>/p/<name>`` with its own give box. Gifts made there record the page
(``Gift.member_page_id``; Stripe Checkout's metadata names it too), so they credit the member
and, through the gift's chapter, their chapter. What a page has raised is read from the ledger
(its gifts' entries), never kept as a running sum. An organizer hides a page at once, with a
reason: it answers 404 from the next request.

The member's email is private: it is used for their links only, never shown on a public
page, the API or a CSV.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext
from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import drives, i18n, money
from relief.errors import Conflict, InvalidAmount, InvalidInput, NotFound
from relief.ledger import RAISED_KINDS, as_utc
from relief.models import Chapter, Drive, Entry, Gift, MemberLink, MemberPage, email_key
from relief.outbox import enqueue
from relief.validation import check_text

#: A link to write or edit a page: long enough to write a story, short enough to be safe.
LINK_VALID = timedelta(hours=24)
#: The page's address: lowercase letters, digits and single hyphens, like a slug.
NAME = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
NAME_LENGTH = (2, 40)
#: Addresses under /drives/<slug>/p/ that the app itself uses.
RESERVED_NAMES = ("join",)
LEADERBOARD_SIZE = 10
EXPIRED = (
    "This link has expired or was already used. Sign up again on the drive's page for a new one."
)
NOT_FOUND = "There is no such member's page."
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def token_of(link: MemberLink, secret: str) -> str:
    """The link's token, derived from its nonce with the app's secret: the database alone
    holds no working link."""
    message = f"relief member link\0{link.id}\0{link.nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_link(session: Session, page: MemberPage, secret: str, now: datetime) -> MemberLink:
    assert page.id is not None
    link = MemberLink(
        token_hash="",
        nonce=secrets.token_hex(16),
        member_page_id=page.id,
        expires_at=now + LINK_VALID,
    )
    session.add(link)
    session.flush()
    link.token_hash = _hash(token_of(link, secret))
    # Written in the language the member signed up in (the worker has no visitor).
    payload = {"template": "member_link", "link_id": link.id, "language": i18n.current()}
    enqueue(session, "mail", f"member-link:{link.id}", payload)
    return link


def sign_up(
    session: Session,
    drive_slug: str,
    *,
    display_name: str,
    email: str,
    chapter_slug: str,
    secret: str,
    now: datetime,
) -> MemberPage:
    """A pending page for this member on the drive, and a one-time link to it by email. The
    same address signing up again on the same drive gets a new link to its page (how a
    member edits their page later)."""
    drive = drives.get_drive(session, drive_slug)
    display_name = check_text(display_name, "name", 80)
    email = (email or "").strip()
    if len(email) > 320 or not EMAIL.match(email):
        raise InvalidInput(gettext("Enter an email address such as name@example.org."))
    if not chapter_slug:
        raise InvalidInput(gettext("Choose your chapter."))
    try:
        chapter = drives.chapter_in_drive(session, drive, chapter_slug)
    except NotFound:
        raise InvalidInput(gettext("Choose your chapter: one taking part in this drive.")) from None
    key = email_key(email)
    page = session.exec(
        select(MemberPage).where(MemberPage.drive_id == drive.id, MemberPage.email_key == key)
    ).first()
    if page is None:
        assert drive.id is not None and chapter.id is not None
        page = MemberPage(
            drive_id=drive.id,
            chapter_id=chapter.id,
            display_name=display_name,
            email=email,
            email_key=key,
        )
        session.add(page)
        session.flush()
    _new_link(session, page, secret, now)
    return page


def _live_link(session: Session, token: str, now: datetime, lock: bool = False) -> MemberLink:
    query = select(MemberLink).where(MemberLink.token_hash == _hash(token[:200]))
    link = session.exec(query.with_for_update() if lock else query).first()
    if link is None or link.used_at is not None or as_utc(link.expires_at) <= now:
        raise InvalidInput(gettext(EXPIRED))
    return link


@dataclass(frozen=True)
class Editing:
    """What the member's link opens: their page as it is, to edit."""

    page: MemberPage
    drive: Drive
    chapter_name: str
    #: The address is chosen once, before the page is approved (shared links must not break).
    may_choose_name: bool


def editing(session: Session, token: str, now: datetime) -> Editing:
    """The page a link edits, without using the link (a mail scanner's GET spends nothing)."""
    link = _live_link(session, token, now)
    page = session.get(MemberPage, link.member_page_id)
    if page is None:
        raise InvalidInput(gettext(EXPIRED))
    drive = session.get(Drive, page.drive_id)
    chapter = session.get(Chapter, page.chapter_id)
    assert drive is not None and chapter is not None
    return Editing(page, drive, chapter.name, may_choose_name=page.approved_at is None)


def check_name(name: str) -> str:
    name = (name or "").strip().lower()
    low, high = NAME_LENGTH
    if not (low <= len(name) <= high and NAME.match(name)):
        raise InvalidInput(
            gettext(
                "Your page's address must be %(low)s to %(high)s lowercase letters, digits and "
                "single hyphens (like ana-b).",
                low=low,
                high=high,
            )
        )
    if name in RESERVED_NAMES:
        raise InvalidInput(
            gettext(
                "The address “%(name)s” is taken by the site itself: choose another.", name=name
            )
        )
    return name


def save(
    session: Session, token: str, *, name: str, story: str, goal: str, now: datetime
) -> MemberPage:
    """Write the page from its link, which is then used. The story and goal can change at any
    time; the address only before the page is approved."""
    link = _live_link(session, token, now, lock=True)
    page = session.get(MemberPage, link.member_page_id)
    if page is None:
        raise InvalidInput(gettext(EXPIRED))
    drive = session.get(Drive, page.drive_id)
    assert drive is not None
    story = check_text(story, "story", 2000)
    try:
        goal_cents = money.parse(goal)
    except InvalidAmount as error:
        raise InvalidInput(gettext("Your goal: %(why)s", why=error.message)) from error
    if goal_cents <= 0:
        raise InvalidInput(gettext("Your goal must be more than zero."))
    if page.approved_at is None:
        name = check_name(name)
        taken = session.exec(
            select(MemberPage.id).where(
                MemberPage.drive_id == page.drive_id,
                MemberPage.name == name,
                MemberPage.id != page.id,
            )
        ).first()
        if taken is not None:
            raise Conflict(
                gettext("The address “%(name)s” is taken on this drive: choose another.", name=name)
            )
        page.name = name
    page.story = story
    page.goal_cents = goal_cents
    link.used_at = now
    session.flush()
    return page


# --- Organizers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    page: MemberPage
    drive_slug: str
    drive_title: str
    raised_cents: int
    currency: str

    @property
    def state(self) -> str:
        return state_of(self.page)


def state_of(page: MemberPage) -> str:
    if page.hidden_at is not None:
        return "hidden"
    if page.approved_at is not None:
        return "approved"
    return "pending"


def chapter_pages(session: Session, chapter: Chapter) -> dict[str, list[Listed]]:
    """The chapter's members' pages on every drive, by state: pending, approved, hidden."""
    rows = session.exec(
        select(MemberPage, Drive)
        .join(Drive, col(Drive.id) == MemberPage.drive_id)
        .where(MemberPage.chapter_id == chapter.id)
        .order_by(col(MemberPage.created_at), col(MemberPage.id))
    ).all()
    raised = raised_by_page(session, [page.id for page, _ in rows if page.id is not None])
    found: dict[str, list[Listed]] = {"pending": [], "approved": [], "hidden": []}
    for page, drive in rows:
        listed = Listed(page, drive.slug, drive.title, raised.get(page.id or 0, 0), drive.currency)
        found[listed.state].append(listed)
    return found


def _chapters_page(session: Session, chapter: Chapter, page_id: int) -> MemberPage:
    """The page if it is this chapter's; NotFound for any other (the same as none)."""
    page = session.get(MemberPage, page_id)
    if page is None or page.chapter_id != chapter.id:
        raise NotFound(gettext(NOT_FOUND))
    return page


def approve(
    session: Session, chapter: Chapter, page_id: int, user_id: int | None, now: datetime
) -> MemberPage:
    """Make the page public (a hidden one too: approving it shows it again)."""
    page = _chapters_page(session, chapter, page_id)
    if not page.name or not page.story or not page.goal_cents:
        raise Conflict("This member has not written their page yet: there is nothing to approve.")
    if page.approved_at is None:
        page.approved_at = now
        page.approved_by_id = user_id
    page.hidden_at = None
    page.hidden_reason = ""
    session.flush()
    return page


def hide(
    session: Session, chapter: Chapter, page_id: int, reason: str, now: datetime
) -> MemberPage:
    """Take the page down at once: a 404 from the next request, gone from the leaderboard.
    Gifts already made there keep their credit."""
    page = _chapters_page(session, chapter, page_id)
    page.hidden_reason = check_text(reason, "reason", 400)
    page.hidden_at = now
    session.flush()
    return page


# --- Public -----------------------------------------------------------------------------------


def raised_by_page(session: Session, page_ids: list[int]) -> dict[int, int]:
    """What each page's gifts count for now, from their ledger entries (refunds, disputes and
    corrections included), by page id."""
    if not page_ids:
        return {}
    rows = session.exec(
        select(Gift.member_page_id, func.sum(Entry.amount_cents))
        .join(Gift, col(Gift.id) == Entry.gift_id)
        .where(
            col(Gift.member_page_id).in_(page_ids),
            col(Entry.drive_id) == Gift.drive_id,
            col(Entry.kind).in_(tuple(RAISED_KINDS)),
        )
        .group_by(col(Gift.member_page_id))
    ).all()
    return {int(page_id): int(total or 0) for page_id, total in rows if page_id is not None}


def _public():
    return col(MemberPage.approved_at).is_not(None) & col(MemberPage.hidden_at).is_(None)


@dataclass(frozen=True)
class LeaderRow:
    """One line of a drive's members' leaderboard: the display name only, never an email."""

    name: str
    display_name: str
    chapter_name: str
    raised_cents: int
    goal_cents: int


def leaderboard(
    session: Session, drive: Drive, size: int = LEADERBOARD_SIZE
) -> tuple[LeaderRow, ...]:
    """The drive's approved, visible members' pages, most raised first (then the earliest
    approved), at most ``size``."""
    rows = session.exec(
        select(MemberPage, Chapter.name)
        .join(Chapter, col(Chapter.id) == MemberPage.chapter_id)
        .where(MemberPage.drive_id == drive.id, _public())
    ).all()
    raised = raised_by_page(session, [page.id for page, _ in rows if page.id is not None])
    ordered = sorted(
        rows,
        key=lambda row: (
            -raised.get(row[0].id or 0, 0),
            as_utc(row[0].approved_at or row[0].created_at),
            row[0].id,
        ),
    )
    return tuple(
        LeaderRow(
            name=page.name or "",
            display_name=page.display_name,
            chapter_name=chapter_name,
            raised_cents=raised.get(page.id or 0, 0),
            goal_cents=page.goal_cents or 0,
        )
        for page, chapter_name in ordered[:size]
    )


@dataclass(frozen=True)
class MemberView:
    """What a member's public page shows."""

    page: MemberPage
    chapter: Chapter
    raised_cents: int
    gift_count: int

    @property
    def goal_cents(self) -> int:
        return self.page.goal_cents or 0


def public_page(session: Session, drive: Drive, name: str) -> MemberView:
    """The approved, visible page ``name`` of the drive; NotFound otherwise (pending, hidden
    and unknown alike)."""
    page = session.exec(
        select(MemberPage).where(
            MemberPage.drive_id == drive.id, MemberPage.name == name[:40], _public()
        )
    ).first()
    if page is None or page.id is None:
        raise NotFound(gettext(NOT_FOUND))
    chapter = session.get(Chapter, page.chapter_id)
    assert chapter is not None
    count = session.exec(
        select(func.count(func.distinct(Entry.gift_id)))
        .join(Gift, col(Gift.id) == Entry.gift_id)
        .where(
            Gift.member_page_id == page.id,
            col(Entry.drive_id) == Gift.drive_id,
            Entry.amount_cents > 0,
        )
        .where(col(Entry.kind).in_(tuple(RAISED_KINDS)))
    ).one()
    return MemberView(page, chapter, raised_by_page(session, [page.id]).get(page.id, 0), int(count))


def credited(session: Session, drive_id: int | None, name: str | None) -> MemberPage | None:
    """The drive's member page a Checkout Session's metadata names (any state: money given
    there credits it even if the page was hidden meanwhile); None when there is none."""
    if not drive_id or not name:
        return None
    return session.exec(
        select(MemberPage).where(MemberPage.drive_id == drive_id, MemberPage.name == str(name)[:40])
    ).first()


def member_name(session: Session, gift: Gift) -> str | None:
    """The address of the member page a gift was given on (for the checkout's metadata)."""
    if gift.member_page_id is None:
        return None
    page = session.get(MemberPage, gift.member_page_id)
    return page.name if page else None


@dataclass(frozen=True)
class LinkMail:
    """What the member's link email says (relief/mail builds it when it is sent)."""

    email: str
    display_name: str
    drive_title: str
    drive_slug: str
    token: str
    hours: int


def link_mail(session: Session, secret: str, link_id: int, now: datetime) -> LinkMail | None:
    """The email for a link, or None when it is used or expired meanwhile."""
    link = session.get(MemberLink, link_id)
    if link is None or link.used_at is not None or as_utc(link.expires_at) <= now:
        return None
    page = session.get(MemberPage, link.member_page_id)
    drive = session.get(Drive, page.drive_id) if page else None
    if page is None or drive is None:
        return None
    return LinkMail(
        email=page.email,
        display_name=page.display_name,
        drive_title=drive.title,
        drive_slug=drive.slug,
        token=token_of(link, secret),
        hours=int(LINK_VALID.total_seconds() // 3600),
    )
