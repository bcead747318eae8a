"""A donor's own page, reached by email ("Find my gifts"): a one-time sign-in link, valid
30 minutes, stored hashed; the same answer whether or not the address has given. The page
lists that donor's gifts (by normalised address), their receipts, year-end statements by year
and each monthly gift with its cancel. Nothing here reaches another donor's data: every gift
asked for by id is checked to be the signed-in donor's, and NotFound otherwise."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from relief.errors import InvalidInput, NotFound
from relief.i18n import N_
from relief.ledger import as_utc, months, moves
from relief.models import DonorLink, Drive, Gift, MonthlyGift, email_key
from relief.outbox import enqueue
from relief.payments import donations, records

LINK_VALID = timedelta(minutes=30)
#: The donor page's own session (a signed cookie, never a treasurer's session).
SESSION_SECONDS = 60 * 60
EXPIRED = N_("This link has expired or was already used. Ask for a new one below.")
NOT_YOURS = N_("There is no such gift among yours.")


def token_of(link: DonorLink, secret: str) -> str:
    """The link's token, derived from its nonce with the app's secret: the database alone
    (a backup, a leak) holds no working link."""
    message = f"relief donor link\0{link.id}\0{link.nonce}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _latest_gift(session: Session, key: str) -> Gift | None:
    return session.exec(
        select(Gift)
        .where(
            Gift.donor_email_key == key,
            col(Gift.donor_email).is_not(None),
            col(Gift.status).in_(tuple(records.MONEY_RECEIVED)),
        )
        .order_by(col(Gift.received_at).desc(), col(Gift.id).desc())
    ).first()


def request_link(session: Session, email: str, secret: str, now: datetime) -> bool:
    """Queue a sign-in link to ``email`` if it has given; the caller answers the same either
    way. True when a link was made (tests and logs only)."""
    key = email_key(email)
    gift = _latest_gift(session, key) if key else None
    if gift is None or gift.id is None:
        return False
    link = DonorLink(
        token_hash="", nonce=secrets.token_hex(16), gift_id=gift.id, expires_at=now + LINK_VALID
    )
    session.add(link)
    session.flush()
    link.token_hash = _hash(token_of(link, secret))
    enqueue(
        session,
        "mail",
        f"donor-link:{link.id}",
        {"template": "donor_link", "gift_id": gift.id, "link_id": link.id},
    )
    return True


def redeem(session: Session, token: str, now: datetime) -> int:
    """Use the link once: its id, which the donor's session then carries."""
    link = session.exec(
        select(DonorLink).where(DonorLink.token_hash == _hash(token[:200])).with_for_update()
    ).first()
    if link is None or link.used_at is not None or as_utc(link.expires_at) <= now:
        raise InvalidInput(EXPIRED)
    link.used_at = now
    assert link.id is not None
    return link.id


def donor_key(session: Session, link_id: int) -> str | None:
    """The normalised address a redeemed link signs in as; None once the donor was erased
    (the gift's address is gone) or the gift purged."""
    link = session.get(DonorLink, link_id)
    gift = session.get(Gift, link.gift_id) if link is not None and link.used_at else None
    return gift.donor_email_key if gift is not None and gift.donor_email else None


@dataclass(frozen=True)
class DonorGift:
    id: int
    public_id: str
    received_on: datetime
    drive_title: str
    net_cents: int
    currency: str
    monthly: bool
    test_mode: bool


@dataclass(frozen=True)
class Monthly:
    """One monthly gift (a subscription): its latest payment stands for it."""

    gift_id: int
    drive_title: str
    amount_cents: int
    currency: str
    cancelled: bool
    test_mode: bool
    #: Its latest payment failed (``MonthlyGift.overdue``), and when Stripe tries again.
    overdue: bool = False
    retry_at: datetime | None = None


@dataclass(frozen=True)
class DonorPage:
    gifts: tuple[DonorGift, ...]
    years: tuple[int, ...]
    monthly: tuple[Monthly, ...]


def _gifts(session: Session, key: str) -> list[Gift]:
    return list(
        session.exec(
            select(Gift)
            .where(
                Gift.donor_email_key == key,
                col(Gift.status).in_(tuple(records.MONEY_RECEIVED)),
            )
            .order_by(col(Gift.received_at).desc(), col(Gift.id).desc())
        ).all()
    )


def page(session: Session, key: str) -> DonorPage:
    titles = {drive.id: drive.title for drive in session.exec(select(Drive))}
    listed: list[DonorGift] = []
    plans: dict[str, Monthly] = {}
    moved = moves.moved_anywhere(session)  # a check's corrected date received is its date
    for gift in _gifts(session, key):
        assert gift.id is not None
        received = moved.get(gift.id) or as_utc(gift.received_at or gift.created_at)
        title = titles.get(gift.drive_id, "A drive (being assigned)")
        listed.append(
            DonorGift(
                id=gift.id,
                public_id=gift.public_id,
                received_on=received,
                drive_title=title,
                net_cents=donations.gift_history(session, gift).net_cents,
                currency=gift.currency,
                monthly=gift.monthly,
                test_mode=gift.test_mode,
            )
        )
        subscription = gift.stripe_subscription_id
        if gift.monthly and subscription and subscription not in plans:
            plan = session.get(MonthlyGift, subscription)
            plans[subscription] = Monthly(
                gift_id=gift.id,
                drive_title=title,
                amount_cents=gift.amount_cents,
                currency=gift.currency,
                cancelled=bool(plan and plan.canceled_at),
                test_mode=gift.test_mode,
                overdue=bool(plan and plan.overdue),
                retry_at=plan.next_attempt_at if plan and plan.overdue else None,
            )
    listed.sort(key=lambda g: (g.received_on, g.id), reverse=True)
    years = sorted({months.local(g.received_on).year for g in listed}, reverse=True)
    return DonorPage(tuple(listed), tuple(years), tuple(plans.values()))


def own_gift(session: Session, key: str, gift_id: int) -> Gift:
    """The donor's gift with this id; NotFound for anyone else's (the same answer as none)."""
    gift = session.get(Gift, gift_id)
    if gift is None or gift.donor_email_key != key or gift.status not in records.MONEY_RECEIVED:
        raise NotFound(NOT_YOURS)
    return gift


def cancel_test_monthly(session: Session, key: str, gift_id: int, now: datetime) -> None:
    """Cancel a test-mode monthly gift (no processor to ask): no more months will come."""
    gift = own_gift(session, key, gift_id)
    if not (gift.monthly and gift.test_mode and gift.stripe_subscription_id):
        raise NotFound(NOT_YOURS)
    plan = session.get(MonthlyGift, gift.stripe_subscription_id)
    if plan is None:
        plan = MonthlyGift(subscription_id=gift.stripe_subscription_id)
        session.add(plan)
    if plan.canceled_at is None:
        plan.status = "canceled"
        plan.canceled_at = now
        plan.updated_at = now
