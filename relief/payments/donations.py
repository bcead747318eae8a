"""A donor's gift from the donate form: the pending gift, its checkout, and what the donor
sees afterwards. Nothing here records money: only Stripe's events (or the test checkout's,
through the same code) do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext
from sqlmodel import Session, col, select

from relief import drives, members, money, projection
from relief.errors import InvalidAmount, NotFound
from relief.i18n import N_
from relief.ledger import RAISED_KINDS
from relief.models import (
    Chapter,
    Drive,
    Entry,
    EntryKind,
    Gift,
    GiftMethod,
    GiftStatus,
    MonthlyGift,
)
from relief.payments import records
from relief.payments.gateway import CheckoutDetails, CheckoutUrls, Gateway

ATTRIBUTION_KEYS = ("ref", "utm_source", "utm_medium", "utm_campaign")
#: A dedication (in honour or memory of someone, and its card), with each column's length.
DEDICATION_KEYS = ("dedication_kind", "honoree_name", "card_name", "card_email", "card_message")
LIMITS = {
    "dedication_kind": 8,
    "honoree_name": 200,
    "card_name": 200,
    "card_email": 320,
    "card_message": 500,
}


@dataclass(frozen=True)
class FeeRate:
    """What Stripe charges on a card payment (percent in basis points + fixed cents), and
    what Stripe Billing adds on a monthly gift's payment (basis points)."""

    percent_bps: int
    fixed_cents: int
    monthly_bps: int = 0


@dataclass(frozen=True)
class DonationRequest:
    """What the donor asked for, already parsed by the form (amounts in cents)."""

    drive_slug: str
    chapter_slug: str | None
    amount_cents: int
    cover_fee: bool
    monthly: bool
    donor_name: str
    show_name: bool
    message: str | None
    email: str
    attribution: dict[str, str] = field(default_factory=dict)
    #: The member's page the gift is given on (its address), crediting them and their chapter.
    member_name: str | None = None
    #: In honour or memory of someone, and the card by email (forms.DEDICATION_FIELDS).
    dedication: dict[str, str | None] = field(default_factory=dict)
    #: The language the donor gave in: their emails and receipt are written in it.
    locale: str = "en"


def charge_for(amount_cents: int, cover_fee: bool, rate: FeeRate, *, monthly: bool = False) -> int:
    """What the donor is charged: the amount, or grossed up so the drive receives it (a
    monthly gift's also covers Stripe Billing's fee)."""
    if not cover_fee:
        return amount_cents
    return money.gross_up(
        amount_cents,
        rate.percent_bps,
        rate.fixed_cents,
        billing_bps=rate.monthly_bps if monthly else 0,
    )


def create_pending(
    session: Session,
    request: DonationRequest,
    *,
    rate: FeeRate,
    min_cents: int,
    max_cents: int,
    test_mode: bool,
) -> Gift:
    """A pending gift (no ledger entry) for the checkout to complete. Checks the bounds
    again: nothing reaches the processor that the form would refuse."""
    drive = drives.get_drive(session, request.drive_slug)
    member = (
        members.public_page(session, drive, request.member_name) if request.member_name else None
    )
    chapter = (
        member.chapter
        if member is not None
        else drives.chapter_in_drive(session, drive, request.chapter_slug)
        if request.chapter_slug
        else None
    )
    if not min_cents <= request.amount_cents <= max_cents:
        raise InvalidAmount(
            gettext(
                "Gifts are from %(least)s to %(most)s.",
                least=money.format(min_cents, drive.currency),
                most=money.format(max_cents, drive.currency),
            )
        )
    charged = charge_for(request.amount_cents, request.cover_fee, rate, monthly=request.monthly)
    gift = Gift(
        drive_id=drive.id,
        chapter_id=chapter.id if chapter else None,
        amount_cents=charged,
        covered_fee_cents=charged - request.amount_cents,
        currency=drive.currency,
        method=GiftMethod.TEST if test_mode else GiftMethod.CARD,
        status=GiftStatus.PENDING,
        donor_name=request.donor_name.strip()[:200],
        show_name=bool(request.show_name and request.donor_name.strip()),
        donor_email=request.email.strip()[:320] or None,
        message=(request.message or "").strip()[:2000] or None,
        monthly=request.monthly,
        test_mode=test_mode,
        member_page_id=member.page.id if member is not None else None,
        locale=request.locale,
    )
    for key in ATTRIBUTION_KEYS:
        setattr(gift, key, request.attribution.get(key) or None)
    for key in DEDICATION_KEYS:
        value = request.dedication.get(key)
        setattr(gift, key, value[: LIMITS[key]] if value else None)
    session.add(gift)
    session.flush()
    return gift


def checkout_details(session: Session, gift: Gift, org_name: str) -> CheckoutDetails:
    drive = session.get(Drive, gift.drive_id)
    if drive is None:
        raise NotFound(N_("This gift belongs to no drive."))
    chapter = session.get(Chapter, gift.chapter_id) if gift.chapter_id else None
    return CheckoutDetails(
        drive_slug=drive.slug,
        drive_title=drive.title,
        chapter_slug=chapter.slug if chapter else None,
        org_name=org_name,
        member_name=members.member_name(session, gift),
    )


def start_checkout(
    gateway: Gateway, gift: Gift, details: CheckoutDetails, urls: CheckoutUrls
) -> str:
    """Create the processor's checkout for a pending gift; the URL to send the donor to.
    Touches no database: call it between transactions, so no lock is held while the processor
    answers; the gift's new session id is saved by the caller's next commit."""
    return gateway.start_checkout(gift, details, urls)


def pending_gift(session: Session, public_id: str) -> Gift:
    gift = records.by_public_id(session, public_id, lock=False)
    if gift is None:
        raise NotFound(N_("There is no such gift."))
    return gift


def form_values(session: Session, public_id: str | None) -> dict | None:
    """The donate form's values of a gift not paid yet (cancel returns to the filled form)."""
    if not public_id:
        return None
    gift = records.by_public_id(session, public_id, lock=False)
    if gift is None or gift.status not in (GiftStatus.PENDING, GiftStatus.FAILED):
        return None
    chapter = session.get(Chapter, gift.chapter_id) if gift.chapter_id else None
    return {
        "amount_cents": gift.amount_cents - gift.covered_fee_cents,
        "cover_fee": gift.covered_fee_cents > 0,
        "monthly": gift.monthly,
        "chapter": chapter.slug if chapter else "",
        "donor_name": gift.donor_name,
        "show_name": gift.show_name,
        "message": gift.message or "",
        "email": gift.donor_email or "",
        **{key: getattr(gift, key) or "" for key in DEDICATION_KEYS},
    }


@dataclass(frozen=True)
class GiftChange:
    """Something that changed what a gift is worth after it was received."""

    on: datetime
    #: refunded, refund_failed (the money came back), disputed, dispute_won, corrected or
    #: reversed (a gift entry taken back out, e.g. a purged test gift).
    what: str
    #: Signed: what it did to the gift (a refund is negative).
    amount_cents: int

    @property
    def label(self) -> str:
        """The change as the donor reads it (their page and their receipt)."""
        return CHANGE_LABELS[self.what]


#: In English; translated where shown (``_(change.label)``), in the page's or receipt's language.
CHANGE_LABELS = {
    "refunded": N_("Refunded to you"),
    "refund_failed": N_("Refund failed: the money came back"),
    "disputed": N_("Withdrawn by a card dispute"),
    "dispute_won": N_("Dispute won: the money came back"),
    "corrected": N_("Corrected by the chapter's treasurer"),
    "reversed": N_("Reversed"),
    "received": N_("Received again"),
}


@dataclass(frozen=True)
class GiftHistory:
    """What a gift is worth now: what was received, and each change since, from its ledger
    entries in the drive's books (a receipt and the donor's page say the same)."""

    received_cents: int
    received_at: datetime | None
    changes: tuple[GiftChange, ...]

    @property
    def net_cents(self) -> int:
        """What the gift is now: received, net of refunds, disputes and corrections."""
        return self.received_cents + sum(change.amount_cents for change in self.changes)

    @property
    def refunded_cents(self) -> int:
        """What went back to the donor (failed refunds count nothing)."""
        return -sum(c.amount_cents for c in self.changes if c.what in _REFUND_CHANGES)

    @property
    def fully_refunded(self) -> bool:
        return self.received_cents > 0 and self.refunded_cents >= self.received_cents

    @property
    def last_refund_at(self) -> datetime | None:
        refunds = [c.on for c in self.changes if c.what == "refunded"]
        return refunds[-1] if refunds else None


_REFUND_CHANGES = ("refunded", "refund_failed")


def _change_of(kind: EntryKind, amount_cents: int) -> str:
    match kind:
        case EntryKind.REFUND:
            return "refunded" if amount_cents < 0 else "refund_failed"
        case EntryKind.DISPUTE_WITHDRAWN:
            return "disputed"
        case EntryKind.DISPUTE_REINSTATED:
            return "dispute_won"
        case EntryKind.CORRECTION:
            return "corrected"
    return "reversed" if amount_cents < 0 else "received"


def gift_history(session: Session, gift: Gift) -> GiftHistory:
    """The gift's money as its drive's books hold it (entries moved to the drive when the
    gift was assigned to one count once: only those under the gift's drive are read)."""
    drive_is = (
        col(Entry.drive_id).is_(None)
        if gift.drive_id is None
        else col(Entry.drive_id) == gift.drive_id
    )
    entries = session.exec(
        select(col(Entry.kind), col(Entry.amount_cents), col(Entry.effective_at))
        .where(Entry.gift_id == gift.id, drive_is, col(Entry.kind).in_(tuple(RAISED_KINDS)))
        .order_by(col(Entry.effective_at), col(Entry.id))
    ).all()
    first = next(
        (n for n, (kind, cents, _) in enumerate(entries) if kind is EntryKind.GIFT and cents > 0),
        None,
    )
    return GiftHistory(
        received_cents=entries[first][1] if first is not None else 0,
        received_at=entries[first][2] if first is not None else None,
        changes=tuple(
            GiftChange(on=on, what=_change_of(kind, cents), amount_cents=cents)
            for n, (kind, cents, on) in enumerate(entries)
            if n != first
        ),
    )


@dataclass(frozen=True)
class Receipt:
    """What the donor's own page shows about their gift (never shown to anyone else)."""

    public_id: str
    status: GiftStatus
    amount_cents: int
    currency: str
    covered_fee_cents: int
    #: Debt this gift relieves, estimated from what the drive keeps after known fees.
    relief_cents: int
    fee_cents: int
    drive: Drive | None
    chapter_name: str | None
    monthly: bool
    monthly_cancelled: bool
    #: The monthly gift's latest payment failed (``MonthlyGift.overdue``), and when Stripe
    #: tries again (None: it will not).
    monthly_overdue: bool
    monthly_retry_at: datetime | None
    test_mode: bool
    confirmed: bool
    donor_email: str | None
    #: The donor can open the processor's portal for this monthly gift.
    can_manage: bool
    #: What the gift is now, and each refund, dispute or correction since it was received.
    history: GiftHistory
    #: A dedicated gift: "honour" or "memory" and whom, and who was sent a card (by name).
    dedication_kind: str | None = None
    honoree_name: str | None = None
    card_name: str | None = None

    @property
    def ratio_hundredths(self) -> int:
        return self.drive.ratio_hundredths if self.drive else 0


def receipt(session: Session, public_id: str) -> Receipt:
    gift = pending_gift(session, public_id)
    drive = session.get(Drive, gift.drive_id) if gift.drive_id else None
    chapter = session.get(Chapter, gift.chapter_id) if gift.chapter_id else None
    fee_cents = records.sum_for(session, gift, EntryKind.FEE)
    plan = session.get(MonthlyGift, gift.stripe_subscription_id) if gift.monthly else None
    history = gift_history(session, gift)
    # Before the money arrives the gift is what the donor chose; after, what the books hold.
    amount_cents = history.net_cents if history.received_cents else gift.amount_cents
    return Receipt(
        public_id=gift.public_id,
        status=gift.status,
        amount_cents=amount_cents,
        currency=gift.currency,
        covered_fee_cents=gift.covered_fee_cents,
        # Until Stripe reports the fee, what the donor added to cover it stands in for it.
        relief_cents=projection.relief_for(
            max(0, amount_cents - (fee_cents or gift.covered_fee_cents)),
            drive.ratio_hundredths if drive else 0,
        ),
        fee_cents=fee_cents,
        drive=drive,
        chapter_name=chapter.name if chapter else None,
        monthly=gift.monthly,
        monthly_cancelled=bool(plan and plan.canceled_at),
        monthly_overdue=bool(plan and plan.overdue),
        monthly_retry_at=plan.next_attempt_at if plan and plan.overdue else None,
        test_mode=gift.test_mode,
        confirmed=gift.status in records.MONEY_RECEIVED,
        donor_email=gift.donor_email,
        can_manage=bool(
            gift.monthly
            and gift.stripe_customer_id
            and not gift.test_mode
            and not (plan and plan.canceled_at)
        ),
        history=history,
        dedication_kind=gift.dedication_kind if gift.honoree_name else None,
        honoree_name=gift.honoree_name,
        card_name=gift.card_name if gift.card_email else None,
    )


def manage_url(
    session: Session,
    gateway: Gateway,
    public_id: str,
    return_url: str,
    checkpoint: Callable[[], None] = lambda: None,
) -> str:
    """The customer-portal link of a monthly gift (change amount, card, or cancel).
    ``checkpoint`` (the caller's commit) ends the transaction before Stripe is asked, so no
    lock is held while it answers."""
    gift = pending_gift(session, public_id)
    if not (gift.monthly and gift.stripe_customer_id) or gift.test_mode:
        raise NotFound(N_("This gift has nothing to manage."))
    customer_id = gift.stripe_customer_id
    checkpoint()
    return gateway.manage_url(customer_id, return_url)
