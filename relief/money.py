"""Money: integer cents in, integer cents out. The only module that turns text into cents,
cents into text, or splits an amount. No floats, and never Python's round() (half-to-even).
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel.numbers import format_currency
from flask_babel import gettext

from relief import i18n
from relief.errors import InvalidAmount

#: $10,000,000.00 — far beyond any gift; a guard against typos and overflow, not a policy.
MAX_CENTS = 1_000_000_000

_AMOUNT = re.compile(r"^\$?\s*(?P<whole>\d{1,3}(?:,\d{3})+|\d+)?(?:\.(?P<frac>\d*))?$", re.ASCII)


def parse(text: str | int, *, max_cents: int = MAX_CENTS) -> int:
    """``"1,600.50"`` → 160050. Refuses zero, negatives, more than two decimals and junk."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise InvalidAmount(gettext("Enter an amount such as 25 or 25.50."))
    raw = str(text).strip()
    match = _AMOUNT.match(raw)
    if not raw or not match or (match["whole"] is None and not match["frac"]):
        if raw.startswith("-"):
            raise InvalidAmount(gettext("The amount must be more than zero."))
        raise InvalidAmount(
            gettext("“%(text)s” is not an amount; enter one such as 25 or 25.50.", text=raw[:40])
        )
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise InvalidAmount(gettext("Amounts have at most two decimals (cents)."))
    whole = int((match["whole"] or "0").replace(",", ""))
    cents = whole * 100 + int(frac.ljust(2, "0"))
    if cents <= 0:
        raise InvalidAmount(gettext("The amount must be more than zero."))
    if cents > max_cents:
        raise InvalidAmount(gettext("The amount must be at most %(most)s.", most=format(max_cents)))
    return cents


def format(cents: int, currency: str = "USD", locale: str | None = None) -> str:  # noqa: A001
    """160050 → ``"$1,600.50"``, by Babel's rules for the currency and locale (by default the
    language being written in: en_US, or es_US, where a dollar also reads "$1,600.50")."""
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise TypeError(f"money is int cents, got {type(cents).__name__}")
    return format_currency(
        Decimal(cents).scaleb(-2), currency, locale=locale or i18n.money_locale()
    )


def to_decimal_text(cents: int) -> str:
    """Cents as a plain decimal, sign kept, no currency symbol, no grouping: -1250 →
    ``"-12.50"``, 160050 → ``"1600.50"``. For what a program or a form field reads back as a
    number (CSV cells, the donate form's amount input); people read :func:`format`."""
    if not isinstance(cents, int) or isinstance(cents, bool):
        raise TypeError(f"money is int cents, got {type(cents).__name__}")
    sign = "-" if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    return f"{sign}{whole}.{part:02d}"


def format_whole(cents: int, currency: str = "USD", locale: str | None = None) -> str:
    """Rounded to whole units for headlines: 16000000 → ``"$160,000"`` (half away from zero)."""
    units = divide_half_up(cents, 100)
    return format_currency(
        units,
        currency,
        locale=locale or i18n.money_locale(),
        format="¤#,##0",
        currency_digits=False,
    )


def divide_half_up(numerator: int, denominator: int) -> int:
    """Integer division rounding halves away from zero, for amounts of either sign."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def apply_ratio(cents: int, ratio_hundredths: int) -> int:
    """``cents`` × a ratio given in hundredths (10000 = 100:1), rounded to the cent."""
    return divide_half_up(cents * ratio_hundredths, 100)


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` cents in proportion to ``weights`` by largest remainder.

    The parts always sum to ``total``; ties go to the earlier weight.
    """
    if not weights or any(w < 0 for w in weights) or sum(weights) == 0:
        raise ValueError("allocate needs non-negative weights with a positive sum")
    weight_sum = sum(weights)
    sign = -1 if total < 0 else 1
    magnitude = abs(total)
    parts = [magnitude * w // weight_sum for w in weights]
    remainders = [magnitude * w % weight_sum for w in weights]
    short = magnitude - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:short]:
        parts[index] += 1
    return [sign * p for p in parts]


def gross_up(net_cents: int, percent_bps: int, fixed_cents: int, *, billing_bps: int = 0) -> int:
    """The charge that leaves at least ``net_cents`` after a fee of percent + fixed (and, for
    a monthly gift, Stripe Billing's ``billing_bps`` of the charge, billed apart).

    Starts from the algebraic answer and steps up, so the result is the smallest charge whose
    fees (as :func:`fee_for` and :func:`billing_fee_for` compute them, each rounded to the cent
    as Stripe rounds it) leave the donor's intended amount.
    """
    if net_cents <= 0:
        raise InvalidAmount(gettext("The amount must be more than zero."))
    denominator = 10_000 - percent_bps - billing_bps
    charge = (net_cents + fixed_cents) * 10_000 // denominator
    while (
        charge - fee_for(charge, percent_bps, fixed_cents) - billing_fee_for(charge, billing_bps)
        < net_cents
    ):
        charge += 1
    return charge


def fee_for(charge_cents: int, percent_bps: int, fixed_cents: int) -> int:
    """A processor fee of percent (basis points, rounded half up to the cent) + fixed."""
    return divide_half_up(charge_cents * percent_bps, 10_000) + fixed_cents


def billing_fee_for(charge_cents: int, billing_bps: int) -> int:
    """Stripe Billing's fee on a subscription payment (basis points, rounded half up)."""
    return divide_half_up(charge_cents * billing_bps, 10_000)


def bps_text(basis_points: int) -> str:
    """Basis points as a percent people read: 290 → ``"2.9%"``, 220 → ``"2.2%"``, 70 →
    ``"0.7%"``, 1234 → ``"12.34%"``."""
    whole, part = divmod(basis_points, 100)
    return f"{whole}.{part:02d}".rstrip("0").rstrip(".") + "%"


def percent_of(cents: int, goal_cents: int | None) -> int:
    """The true whole percent of a goal reached, as text shows it: rounded half up (7.98% →
    8, 102.5% → 103), never capped (a goal passed eighteen-hundred-fold is 184783%); 0
    without a goal. A progress bar's width is :func:`bar_percent`."""
    if not goal_cents or goal_cents <= 0:
        return 0
    return divide_half_up(cents * 100, goal_cents)


def bar_percent(cents: int, goal_cents: int | None) -> int:
    """How full a goal's progress bar is: :func:`percent_of` held to 0..100, as a bar
    cannot run past its end (nor below empty, while refunds outweigh gifts)."""
    return max(0, min(100, percent_of(cents, goal_cents)))


def percent_text(cents: int, goal_cents: int | None) -> str:
    """The true percent of a goal reached, to one decimal rounded half up, as a reader sees
    it: 102.5% → ``"102.5%"``, 7.98% → ``"8.0%"``, a goal passed 1,848-fold →
    ``"184,782.6%"``; never capped (only :func:`bar_percent` is). ``"—"`` without a goal."""
    if not goal_cents or goal_cents <= 0:
        return "—"
    tenths = divide_half_up(cents * 1000, goal_cents)
    sign = "-" if tenths < 0 else ""
    whole, tenth = divmod(abs(tenths), 10)
    return f"{sign}{whole:,}.{tenth}%"
