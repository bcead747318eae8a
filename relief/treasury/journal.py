"""The chapter's books as accounting software takes them: a double-entry journal, and the
bank-statement files QuickBooks Online and Xero import.

Every ledger entry in the chapter's books (``ledger.owner``) is one movement of money
between a *money account* — where the money sits: Stripe clearing for card gifts, undeposited
funds for cash and checks, the pass-through account of a gift sent straight to the partner,
the bank for a remittance, Stripe clearing for Stripe's dispute fee (an entry with no gift) —
and the *income or expense account* of its kind:

=====================  ===========================  =======================================
entry                  money moves                  journal
=====================  ===========================  =======================================
gift, correction +     in                           Dr money account, Cr donations
refund                 out                          Dr refunds, Cr money account
dispute withdrawn      out                          Dr disputes, Cr money account
dispute reinstated     in                           Dr money account, Cr disputes
fee (charged)          out                          Dr fees, Cr money account
remittance             out                          Dr grants to the partner, Cr money account
=====================  ===========================  =======================================

Money moving between two money accounts is not a ledger entry, but the journal shows it too,
after the entries: a deposit batch banked (Dr bank, Cr undeposited funds, on its deposit date,
for its gifts) and the chapter's part of a paid Stripe payout (Dr bank, Cr Stripe clearing, on
its arrival date, for the net of the chapter's gifts' balance transactions in it). Transfers
change no total: the money accounts' sum stays what it was.

A negative entry of any kind (a fee returned, a correction down, a remittance reversed)
swaps the two sides, so a correction mirrors what it corrects. Each entry is two lines of the
same amount: debits equal credits per entry and in total. Sums by account tie to the
dashboard: donations = gifts + corrections, refunds, disputes, fees, grants = remitted, and
the money accounts' change = held (net − remitted) for the same period.

Dates are the day the ledger booked the money (``effective_at``), in the coalition's zone, as
the dashboard's months count them. The reference names the entry and the gift by their ids,
never the donor (the gift's public id is the donor's own receipt link, so it stays out too).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func
from sqlmodel import Session, col, select

from relief import ledger, money
from relief.errors import InvalidInput
from relief.ledger import owner
from relief.models import (
    AccountRole,
    BatchLine,
    BatchStatus,
    Chapter,
    ChartAccount,
    DepositBatch,
    DirectGift,
    Drive,
    Entry,
    EntryKind,
    Gift,
    GiftMethod,
    Payout,
    PayoutTransaction,
    User,
    utcnow,
)
from relief.treasury import scope
from relief.treasury.exports import BATCH, csv_text, entries_in, neutralise

#: What a small nonprofit's chart usually calls these (numbers in the style of the Unified
#: Chart of Accounts: 1xxx assets, 4xxx income, 6xxx–7xxx expenses). An admin can rename them.
DEFAULT_CHART: dict[AccountRole, tuple[str, str]] = {
    AccountRole.BANK: ("1000", "Checking account"),
    AccountRole.UNDEPOSITED: ("1010", "Undeposited funds (cash and checks)"),
    AccountRole.STRIPE_CLEARING: ("1020", "Stripe clearing"),
    AccountRole.DIRECT_TO_PARTNER: ("1030", "Gifts sent directly to the relief partner"),
    AccountRole.DONATIONS: ("4010", "Individual contributions"),
    AccountRole.REFUNDS: ("4090", "Refunds of contributions"),
    AccountRole.DISPUTES: ("4095", "Disputed contributions (chargebacks)"),
    AccountRole.FEES: ("6110", "Payment processing fees"),
    AccountRole.GRANTS: ("7010", "Grants to the relief partner"),
}
#: What each role is for, on the admin's screen.
ROLE_HELP: dict[AccountRole, str] = {
    AccountRole.BANK: "The chapter's bank account: remittances leave from it.",
    AccountRole.UNDEPOSITED: "Cash and checks received and not yet deposited.",
    AccountRole.STRIPE_CLEARING: "Card gifts until Stripe pays them out; fees and refunds too.",
    AccountRole.DIRECT_TO_PARTNER: "Gifts a donor sent straight to the partner: in and out.",
    AccountRole.DONATIONS: "Gifts received, and corrections of them.",
    AccountRole.REFUNDS: "Money given back to donors.",
    AccountRole.DISPUTES: "Money a card dispute took out (and put back when won).",
    AccountRole.FEES: "Stripe's processing fees.",
    AccountRole.GRANTS: "Money remitted to the relief partner to buy and abolish debt.",
}
#: The income or expense account of each kind of entry.
COUNTER_ACCOUNT: dict[EntryKind, AccountRole] = {
    EntryKind.GIFT: AccountRole.DONATIONS,
    EntryKind.CORRECTION: AccountRole.DONATIONS,
    EntryKind.REFUND: AccountRole.REFUNDS,
    EntryKind.DISPUTE_WITHDRAWN: AccountRole.DISPUTES,
    EntryKind.DISPUTE_REINSTATED: AccountRole.DISPUTES,
    EntryKind.FEE: AccountRole.FEES,
    EntryKind.REMITTANCE: AccountRole.GRANTS,
}
#: The sign of the money an entry's amount moves into the chapter's money accounts (an
#: entry's amount is signed in its kind's direction: a fee of +2.50 takes 2.50 out).
INFLOW_SIGN: dict[EntryKind, int] = {
    EntryKind.GIFT: 1,
    EntryKind.CORRECTION: 1,
    EntryKind.REFUND: 1,  # refunds are stored negative
    EntryKind.DISPUTE_WITHDRAWN: 1,  # negative
    EntryKind.DISPUTE_REINSTATED: 1,  # positive
    EntryKind.FEE: -1,
    EntryKind.REMITTANCE: -1,
}
#: Words for each kind in the bank files (QuickBooks asks for descriptions without numbers).
DESCRIPTION: dict[EntryKind, str] = {
    EntryKind.GIFT: "Donation",
    EntryKind.CORRECTION: "Correction of a donation",
    EntryKind.REFUND: "Refund to a donor",
    EntryKind.DISPUTE_WITHDRAWN: "Card dispute: money withdrawn",
    EntryKind.DISPUTE_REINSTATED: "Card dispute won: money back",
    EntryKind.FEE: "Stripe processing fee",
    EntryKind.REMITTANCE: "Remittance to the relief partner",
}

JOURNAL_COLUMNS = ("date", "account", "debit", "credit", "memo", "reference")
#: QuickBooks Online's 3-column bank-transaction layout ("Upload transactions").
QUICKBOOKS_COLUMNS = ("Date", "Description", "Amount")
#: Xero's bank-statement CSV layout ("Import a Statement").
XERO_COLUMNS = ("Date", "Amount", "Payee", "Description", "Reference")
#: Xero's limit on the lines of one statement file.
XERO_MAX_LINES = 1000
#: Both products read US dates month first; Xero asks once to confirm the format.
BANK_DATE_FORMAT = "%m/%d/%Y"


@dataclass(frozen=True)
class Account:
    role: AccountRole
    number: str
    name: str

    @property
    def label(self) -> str:
        """How the journal names it: "4010 Individual contributions"."""
        return f"{self.number} {self.name}" if self.number else self.name


@dataclass(frozen=True)
class Movement:
    """One ledger entry as money moving in (+) or out (−) of the chapter's money accounts."""

    entry_id: int
    gift_id: int | None
    day: date
    kind: EntryKind
    inflow_cents: int
    money_account: AccountRole
    memo: str
    partner_name: str

    @property
    def counter_account(self) -> AccountRole:
        return COUNTER_ACCOUNT[self.kind]

    @property
    def reference(self) -> str:
        gift = f" gift {self.gift_id}" if self.gift_id else ""
        return f"entry {self.entry_id}{gift}"


@dataclass(frozen=True)
class JournalLine:
    day: date
    account: AccountRole
    debit_cents: int
    credit_cents: int
    memo: str
    reference: str


# --- The chart of accounts -------------------------------------------------------------------


def chart(session: Session) -> dict[AccountRole, Account]:
    """Every role's account: the admin's name and number, else the default."""
    stored = {row.role: row for row in session.exec(select(ChartAccount))}
    accounts = {}
    for role, (number, name) in DEFAULT_CHART.items():
        row = stored.get(role)
        accounts[role] = Account(role, row.number, row.name) if row else Account(role, number, name)
    return accounts


def set_chart(
    session: Session, wanted: dict[AccountRole, tuple[str, str]], by: User | None
) -> list[str]:
    """Store the accounts an admin typed; the changes, as sentences for the audit line.
    Refuses a role without a name; two roles may share an account (the same number and name)."""
    current = chart(session)
    changes = []
    for role, (number, name) in wanted.items():
        number, name = number.strip(), name.strip()
        if not name:
            raise InvalidInput(f"Give the {role.value.replace('_', ' ')} account a name.")
        before = current[role]
        if (before.number, before.name) == (number, name):
            continue
        row = session.get(ChartAccount, role)
        if row is None:
            row = ChartAccount(role=role, number=number, name=name)
        row.number, row.name = number, name
        row.updated_by_id = by.id if by else None
        row.updated_at = utcnow()
        session.add(row)
        changes.append(f"{role.value}: “{before.label}” → “{Account(role, number, name).label}”")
    session.flush()
    return changes


# --- The movements ---------------------------------------------------------------------------


def _money_account(kind: EntryKind, method: GiftMethod | None, direct: bool) -> AccountRole:
    if direct:
        return AccountRole.DIRECT_TO_PARTNER
    if method is None:
        # No gift: Stripe's dispute fee (payout sync posts it to the drive and chapter, not
        # the gift) comes out of the Stripe balance; a remittance or its reversal, the bank.
        return AccountRole.STRIPE_CLEARING if kind is EntryKind.FEE else AccountRole.BANK
    if method in (GiftMethod.CASH, GiftMethod.CHECK):
        return AccountRole.UNDEPOSITED
    return AccountRole.STRIPE_CLEARING


def movements(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[Movement]:
    """The entries in the chapter's books (all its drives, or one), oldest first, dates
    inclusive in the coalition's days; entries outside any drive are left out, as on the
    dashboard."""
    statement = (
        scope.columns_in_books(
            Entry,
            chapter,
            col(Entry.id),
            col(Entry.gift_id),
            col(Entry.effective_at),
            col(Entry.kind),
            col(Entry.amount_cents),
            col(Entry.memo),
            Gift.method,
            DirectGift.gift_id,
            Drive.partner_name,
        )
        .join(Drive, col(Drive.id) == Entry.drive_id)
        .outerjoin(Gift, col(Gift.id) == Entry.gift_id)
        .outerjoin(DirectGift, col(DirectGift.gift_id) == Entry.gift_id)
    )
    statement = entries_in(statement, session, chapter, drive_id, since, until)
    rows = session.exec(statement.order_by(Entry.id).execution_options(yield_per=BATCH))
    for entry_id, gift_id, effective_at, kind, amount_cents, memo, method, direct, partner in rows:
        yield Movement(
            entry_id=entry_id,
            gift_id=gift_id,
            day=ledger.local_day(effective_at),
            kind=kind,
            inflow_cents=INFLOW_SIGN[kind] * amount_cents,
            money_account=_money_account(kind, method, direct is not None),
            memo=memo,
            partner_name=partner,
        )


@dataclass(frozen=True)
class Transfer:
    """Money moved from one money account to another (into the bank)."""

    day: date
    amount_cents: int
    to_account: AccountRole
    from_account: AccountRole
    memo: str
    reference: str


def _dates(statement, column, since: date | None, until: date | None):
    if since is not None:
        statement = statement.where(column >= since)
    if until is not None:
        statement = statement.where(column <= until)
    return statement


def transfers(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> list[Transfer]:
    """The chapter's deposits and its parts of paid Stripe payouts, by date (inclusive)."""
    drive = scope.drive_of(session, chapter, drive_id) if drive_id is not None else None
    deposits = (
        select(
            col(DepositBatch.id), col(DepositBatch.deposited_on), func.sum(BatchLine.amount_cents)
        )
        .join(BatchLine, col(BatchLine.batch_id) == DepositBatch.id)
        .where(DepositBatch.chapter_id == chapter.id, DepositBatch.status == BatchStatus.POSTED)
        .where(col(DepositBatch.deposited_on).is_not(None))
        .group_by(col(DepositBatch.id), col(DepositBatch.deposited_on))
    )
    if drive is not None:
        deposits = deposits.where(DepositBatch.drive_id == drive.id)
    deposits = _dates(deposits, DepositBatch.deposited_on, since, until)
    payouts = (
        select(
            col(Payout.stripe_id), col(Payout.arrival_date), func.sum(PayoutTransaction.net_cents)
        )
        .join(PayoutTransaction, col(PayoutTransaction.payout_id) == Payout.id)
        .join(Gift, col(Gift.id) == PayoutTransaction.gift_id)
        .where(owner.owned_by(Gift, chapter.id), Payout.status == "paid")
        .group_by(col(Payout.stripe_id), col(Payout.arrival_date))
    )
    if drive is not None:
        payouts = payouts.where(Gift.drive_id == drive.id)
    payouts = _dates(payouts, Payout.arrival_date, since, until)
    found = [
        Transfer(
            day,
            int(cents or 0),
            AccountRole.BANK,
            AccountRole.UNDEPOSITED,
            "deposit of a batch of cash and checks",
            f"batch {batch_id}",
        )
        for batch_id, day, cents in session.exec(deposits)
        if day is not None
    ] + [
        Transfer(
            day,
            int(cents or 0),
            AccountRole.BANK,
            AccountRole.STRIPE_CLEARING,
            "Stripe payout: this chapter's part",
            f"payout {stripe_id}",
        )
        for stripe_id, day, cents in session.exec(payouts)
    ]
    return sorted((one for one in found if one.amount_cents), key=lambda one: one.day)


def transfer_lines(moves: Iterable[Transfer]) -> Iterator[JournalLine]:
    """Two lines per transfer (the sides swapped when the amount is negative)."""
    for move in moves:
        debit, credit = move.to_account, move.from_account
        if move.amount_cents < 0:
            debit, credit = credit, debit
        amount = abs(move.amount_cents)
        yield JournalLine(move.day, debit, amount, 0, move.memo, move.reference)
        yield JournalLine(move.day, credit, 0, amount, move.memo, move.reference)


def journal_lines(moves: Iterable[Movement]) -> Iterator[JournalLine]:
    """Two lines per movement, debit first: money in debits the money account."""
    for move in moves:
        amount = abs(move.inflow_cents)
        memo = f"{move.kind.value}: {move.memo}" if move.memo else move.kind.value
        if move.inflow_cents > 0:
            debit, credit = move.money_account, move.counter_account
        else:
            debit, credit = move.counter_account, move.money_account
        yield JournalLine(move.day, debit, amount, 0, memo, move.reference)
        yield JournalLine(move.day, credit, 0, amount, memo, move.reference)


# --- The files ---------------------------------------------------------------------------------


def journal_csv(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[str]:
    """The double-entry journal as CSV: date, account, debit, credit, memo, reference; the
    entries, then the transfers between money accounts."""
    accounts = chart(session)
    lines = itertools.chain(
        journal_lines(movements(session, chapter, drive_id, since, until)),
        transfer_lines(transfers(session, chapter, drive_id, since, until)),
    )
    return csv_text(
        JOURNAL_COLUMNS,
        (
            (
                line.day.isoformat(),
                neutralise(accounts[line.account].label),
                money.to_decimal_text(line.debit_cents) if line.debit_cents else "",
                money.to_decimal_text(line.credit_cents) if line.credit_cents else "",
                neutralise(line.memo),
                line.reference,
            )
            for line in lines
        ),
    )


def _description(move: Movement) -> str:
    return DESCRIPTION[move.kind]


def quickbooks_csv(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[str]:
    """QuickBooks Online's 3-column bank file: Date (MM/DD/YYYY), Description, Amount
    (signed: money in +, out −). One line per entry; the amounts add up to the change in
    the money the chapter holds."""
    moves = movements(session, chapter, drive_id, since, until)
    return csv_text(
        QUICKBOOKS_COLUMNS,
        (
            (
                move.day.strftime(BANK_DATE_FORMAT),
                _description(move),
                money.to_decimal_text(move.inflow_cents),
            )
            for move in moves
        ),
    )


def _payee(move: Movement) -> str:
    if move.kind is EntryKind.REMITTANCE:
        return move.partner_name
    if move.kind in (EntryKind.GIFT, EntryKind.CORRECTION):
        return "Donor"
    if move.money_account is AccountRole.STRIPE_CLEARING:
        return "Stripe"
    return "Donor"


def check_xero_size(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> None:
    """Refuse, with a sentence, a period with more lines than Xero imports from one file
    (before the file starts: a refusal cannot come halfway through a download). Counts no
    further than one line too many, so a refusal costs the same however long the period."""
    statement = select(col(Entry.id)).where(owner.owned_by(Entry, chapter.id))
    statement = statement.where(col(Entry.drive_id).is_not(None))
    statement = entries_in(statement, session, chapter, drive_id, since, until)
    found = statement.limit(XERO_MAX_LINES + 1).subquery()
    if session.exec(select(func.count()).select_from(found)).one() > XERO_MAX_LINES:
        raise InvalidInput(
            f"Xero imports at most {XERO_MAX_LINES:,} lines from one file and this period has "
            "more: choose a shorter one (a month, or a date range)."
        )


def xero_csv(
    session: Session,
    chapter: Chapter,
    drive_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Iterator[str]:
    """Xero's bank-statement file: Date (MM/DD/YYYY), Amount (signed), Payee, Description,
    Reference (the entry and gift ids). The amounts add up as the QuickBooks file's."""
    moves = movements(session, chapter, drive_id, since, until)
    return csv_text(
        XERO_COLUMNS,
        (
            (
                move.day.strftime(BANK_DATE_FORMAT),
                money.to_decimal_text(move.inflow_cents),
                neutralise(_payee(move)),
                _description(move),
                move.reference,
            )
            for move in moves
        ),
    )
