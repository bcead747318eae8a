"""Match pledges: a sponsor's promise to match a drive's gifts, and the sponsor's own gifts
that pay it. A pledge is a promise, not money: nothing here is in the ledger. What a pledge
has matched is derived from the ledger whenever it is shown (relief/matches.py); what the
sponsor paid is an ordinary gift, linked to its pledge by :class:`MatchPayment`."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field, SQLModel

from relief.models.base import _enum, utcnow


class MatchCounts(enum.StrEnum):
    """Which gifts a pledge matches."""

    ONLINE = "online"  # gifts given online (card, or the test checkout in test mode)
    ALL = "all"  # every gift, cash and checks included


class MatchPledge(SQLModel, table=True):
    """A sponsor's pledge on a drive (or one chapter of it): ``ratio_sponsor`` cents for every
    ``ratio_donor`` cents given (1:1 doubles a gift), up to ``cap_cents``, for gifts received
    from ``starts_on`` to ``ends_on`` (the coalition's days, both included)."""

    __tablename__ = "match_pledge"
    __table_args__ = (
        CheckConstraint("cap_cents > 0", name="cap_positive"),
        CheckConstraint("ratio_sponsor > 0 AND ratio_donor > 0", name="ratio_positive"),
        CheckConstraint("ends_on >= starts_on", name="window_ordered"),
    )
    id: int | None = Field(default=None, primary_key=True)
    drive_id: int = Field(foreign_key="drive.id", index=True)
    #: Only gifts credited to this chapter count; None: the whole drive's gifts.
    chapter_id: int | None = Field(default=None, foreign_key="chapter.id")
    sponsor_name: str = Field(max_length=200)
    ratio_sponsor: int
    ratio_donor: int
    cap_cents: int = Field(sa_type=BigInteger)
    starts_on: date
    ends_on: date
    counts: MatchCounts = Field(sa_column=_enum(MatchCounts))
    #: The organizing chapter whose organizer made it (organizers of it may change it).
    made_by_chapter_id: int = Field(foreign_key="chapter.id")
    created_by_id: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    #: Set when an organizer ended the pledge before its end date (``ends_on`` then moved).
    ended_early_at: datetime | None = None
    #: A withdrawn pledge matches nothing and is no longer shown; the reason is kept.
    withdrawn_at: datetime | None = None
    withdrawn_reason: str | None = Field(default=None, max_length=500)


class MatchPayment(SQLModel, table=True):
    """A sponsor's gift recorded against its pledge: the gift counts in raised like any other
    (it is money received), is never itself matched, and fulfils the pledge."""

    __tablename__ = "match_payment"
    gift_id: int = Field(primary_key=True, foreign_key="gift.id")
    pledge_id: int = Field(foreign_key="match_pledge.id", index=True)
