"""Erasure: the addresses of donors who asked to be erased, kept only as keyed hashes; and the
one normalised form of an email address that every lookup uses."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import event
from sqlmodel import Field, SQLModel

from relief.models.base import utcnow
from relief.models.gifts import Gift

#: The stored normalised form is cut to the column's size (an address is at most 320
#: characters; NFKC can lengthen a few exotic ones).
EMAIL_KEY_LENGTH = 320


def normalise_email(email: str | None) -> str:
    """The form an address is compared in: NFKC, then Unicode case folding (``ÑANDÚ`` and
    ``ñandú``, composed or decomposed, are one address). SQL's ``lower()`` folds only ASCII."""
    return unicodedata.normalize("NFKC", (email or "").strip()).casefold()


def email_key(email: str | None) -> str:
    """The normalised address as stored and compared (``Gift.donor_email_key``)."""
    return normalise_email(email)[:EMAIL_KEY_LENGTH]


class ErasedDonor(SQLModel, table=True):
    """An address whose donor asked to be erased: later Stripe events naming it record their
    money without the donor, and a restored backup is erased again (relief/privacy.py)."""

    __tablename__ = "erased_donor"
    #: HMAC-SHA256 of the normalised address, keyed with SECRET_KEY; never the address.
    address_hash: str = Field(primary_key=True, max_length=64)
    erased_at: datetime = Field(default_factory=utcnow)


@event.listens_for(Gift, "before_insert")
@event.listens_for(Gift, "before_update")
def _keep_email_key(_mapper, _connection, gift: Gift) -> None:
    # Whoever writes donor_email (the donate form, a webhook, a batch), the key follows it.
    gift.donor_email_key = email_key(gift.donor_email) or None
