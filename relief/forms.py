"""WTForms. Forms parse and check what people type; services apply the rules again."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple, TypeVar

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from itsdangerous import BadSignature, URLSafeSerializer
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.csrf.core import CSRF
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # not in types-WTForms
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from relief import money
from relief.errors import InvalidAmount
from relief.i18n import N_
from relief.models import utcnow
from relief.validation import EMAIL

T = TypeVar("T")


def required(value: T | None) -> T:
    """A required field's data once its form has validated: its validators (DataRequired,
    InputRequired, a MoneyField's parse) let no None through."""
    assert value is not None, "the form validated this field as required"
    return value


#: Preset amounts on the donate form, in cents.
PRESET_CENTS = (1_000, 2_500, 5_000, 10_000)
OTHER = "other"
# Enough to catch typos; the processor's receipt proves the address.


def no_control_characters(_form, field) -> None:
    """Invisible control characters are typos or attacks, and PostgreSQL cannot store a NUL."""
    if any(ord(c) < 32 and c not in "\r\n\t" for c in field.data or ""):
        raise ValidationError(gettext("Remove the invisible control characters from this field."))


def printable(value: str | None) -> str | None:
    """A hidden field's value without control characters (nobody can see it to fix it)."""
    return value if value is None else "".join(c for c in value if ord(c) >= 32)


def chapter_choices(chapters) -> list[SelectChoice]:
    """The chapter select of a drive page: none (the whole drive) or one taking part."""
    return [SelectChoice("", _l("No chapter: the whole drive"))] + [
        SelectChoice(part.slug, part.name) for part in chapters
    ]


class DonatePage(NamedTuple):
    """Where a donate form is: its drive and, on a chapter's page, that chapter."""

    drive_slug: str
    chapter_slug: str | None


#: A donate form's token is good on the day it was shown (UTC) and the next one.
DONATE_TOKEN_DAYS = 2
_DONATE_SALT = "relief.donate-form"
MISSING_TOKEN = N_(
    "This form arrived without its security token (CSRF), so nothing was recorded. What you "
    "typed is kept below: send it again."
)
FORGED_TOKEN = N_(
    "This form's security token (CSRF) is not this page's, so nothing was recorded. What you "
    "typed is kept below: check it and send it again."
)
EXPIRED_TOKEN = N_(
    "This form expired (it was opened more than a day ago), so nothing was recorded. What you "
    "typed is kept below: send it again."
)


def donate_token(secret: str, page: DonatePage, day: date) -> str:
    """The donate form's token for ``page`` on ``day``: the same for every visitor, so the
    page can be shared and cached, and no session is needed until the donor acts."""
    payload = [page.drive_slug, page.chapter_slug or "", day.toordinal()]
    return URLSafeSerializer(secret, salt=_DONATE_SALT).dumps(payload)


def donate_token_error(secret: str, page: DonatePage, token: str, today: date) -> str | None:
    """None when ``token`` is ``page``'s and recent enough; else the sentence to show."""
    if not token:
        return MISSING_TOKEN
    try:
        drive_slug, chapter_slug, day = URLSafeSerializer(secret, salt=_DONATE_SALT).loads(token)
    except (BadSignature, TypeError, ValueError):
        return FORGED_TOKEN
    if (drive_slug, chapter_slug or None) != tuple(page):
        return FORGED_TOKEN
    if not today.toordinal() - DONATE_TOKEN_DAYS < day <= today.toordinal():
        return EXPIRED_TOKEN
    return None


class DonatePageToken(CSRF):
    """The donate form's CSRF token, bound to its drive (and chapter) and a day rather than
    to a session (docs/security.md: the donate form). The view checks ``Origin`` and
    ``Sec-Fetch-Site`` as well: this token alone any visitor of the page can read."""

    def setup_form(self, form):
        self.secret = form.meta.csrf_secret
        self.page: DonatePage = form.meta.csrf_context
        return super().setup_form(form)

    def generate_csrf_token(self, csrf_token_field) -> str:
        return donate_token(self.secret, self.page, utcnow().date())

    def validate_csrf_token(self, form, field) -> None:
        error = donate_token_error(self.secret, self.page, field.data, utcnow().date())
        if error:
            raise ValidationError(gettext(error))


class DonateForm(FlaskForm):
    class Meta:
        csrf_class = DonatePageToken

    amount_choice = RadioField(_l("Amount"), default=str(PRESET_CENTS[1]))
    custom_amount = StringField(_l("Other amount"), validators=[Length(max=20)])
    frequency = RadioField(
        _l("How often"),
        choices=[SelectChoice("once", _l("Once")), SelectChoice("monthly", _l("Monthly"))],
        default="once",
    )
    cover_fee = BooleanField(_l("Add the processing fee so the drive receives my full gift"))
    chapter = SelectField(_l("Credit a chapter"), choices=[], default="")
    donor_name = StringField(
        _l("Your name"), validators=[Optional(), Length(max=200), no_control_characters]
    )
    show_name = RadioField(
        _l("On the supporter list"),
        choices=[
            SelectChoice("show", _l("Show my name")),
            SelectChoice("anonymous", _l("Give anonymously")),
        ],
        default="show",
    )
    message = TextAreaField(
        _l("A message to the organizers (optional, private)"),
        validators=[Optional(), Length(max=2000), no_control_characters],
    )
    email = EmailField(
        _l("Your email"),
        validators=[
            DataRequired(_l("Enter your email for the receipt.")),
            Length(max=320),
            no_control_characters,
        ],
    )
    # "Dedicate this gift": in honour or in memory of someone, with an optional card by email.
    # No Optional() on these: an empty field must still reach the checks that need it.
    dedication_kind = RadioField(
        "Dedication",
        choices=[
            SelectChoice("honour", "In honour of"),
            SelectChoice("memory", "In memory of"),
        ],
        default="honour",
    )
    honoree_name = StringField("Their name", validators=[Length(max=200), no_control_characters])
    card_name = StringField(
        "Send a card to (name)", validators=[Length(max=200), no_control_characters]
    )
    card_email = EmailField("Their email", validators=[Length(max=320), no_control_characters])
    card_message = TextAreaField(
        "A short message for the card",
        validators=[Optional(), Length(max=500), no_control_characters],
    )
    ref = HiddenField(filters=[printable])
    utm_source = HiddenField(filters=[printable])
    utm_medium = HiddenField(filters=[printable])
    utm_campaign = HiddenField(filters=[printable])

    def __init__(
        self,
        *args,
        page: DonatePage,
        min_cents: int,
        max_cents: int,
        currency: str = "USD",
        **kwargs,
    ):
        kwargs["meta"] = {**kwargs.get("meta", {}), "csrf_context": page}
        super().__init__(*args, **kwargs)
        self.min_cents = min_cents
        self.max_cents = max_cents
        self.currency = currency
        self.amount_cents: int | None = None
        self.amount_choice.choices = [
            SelectChoice(str(cents), money.format_whole(cents, currency)) for cents in PRESET_CENTS
        ] + [SelectChoice(OTHER, _l("Other"))]

    def uses_custom_amount(self) -> bool:
        # Typing an amount chooses it, whichever preset is still selected.
        return self.amount_choice.data == OTHER or bool((self.custom_amount.data or "").strip())

    def validate_custom_amount(self, field):
        if self.amount_choice.data == OTHER and not (field.data or "").strip():
            raise ValidationError(gettext("Enter the amount you want to give."))

    def validate_email(self, field):
        if not EMAIL.match((field.data or "").strip()):
            raise ValidationError(gettext("Enter an email address such as name@example.org."))

    def wants_card(self) -> bool:
        return any(
            (f.data or "").strip() for f in (self.card_name, self.card_email, self.card_message)
        )

    def validate_honoree_name(self, field):
        if self.wants_card() and not (field.data or "").strip():
            raise ValidationError(
                gettext("Enter the name of the person you dedicate this gift to.")
            )

    def validate_card_email(self, field):
        address = (field.data or "").strip()
        if address and not EMAIL.match(address):
            raise ValidationError(
                gettext("Enter the card's email address, such as name@example.org.")
            )
        if not address and self.wants_card():
            raise ValidationError(gettext("Enter the email address to send the card to."))

    def validate_card_name(self, field):
        if (self.card_email.data or "").strip() and not (field.data or "").strip():
            raise ValidationError(gettext("Enter the name of the person the card goes to."))

    def dedication(self) -> dict[str, str | None]:
        """The dedication as the gift keeps it (Gift's columns); empty when it is not dedicated."""
        honoree = (self.honoree_name.data or "").strip()
        if not honoree:
            return {}
        card = (self.card_email.data or "").strip()
        return {
            "dedication_kind": "memory" if self.dedication_kind.data == "memory" else "honour",
            "honoree_name": honoree,
            "card_name": (self.card_name.data or "").strip() if card else None,
            "card_email": card or None,
            "card_message": ((self.card_message.data or "").strip() or None) if card else None,
        }

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if "chapter" in self and self.chapter.errors:
            self.chapter.errors = [gettext("Choose a chapter taking part in this drive, or none.")]
        if self.amount_choice.errors or self.custom_amount.errors:
            return False
        try:
            if self.uses_custom_amount():
                cents = money.parse(self.custom_amount.data or "")
            else:
                cents = int(self.amount_choice.data)
        except (InvalidAmount, TypeError, ValueError) as error:
            if self.uses_custom_amount():
                self.amount_choice.data = OTHER
            message = getattr(error, "message", gettext("Choose an amount."))
            self.custom_amount.errors = [*self.custom_amount.errors, message]
            return False
        if self.uses_custom_amount():
            self.amount_choice.data = OTHER  # shown again as chosen
        if not self.min_cents <= cents <= self.max_cents:
            self.custom_amount.errors = [
                *self.custom_amount.errors,
                gettext(
                    "Gifts are from %(least)s to %(most)s.",
                    least=money.format(self.min_cents, self.currency),
                    most=money.format(self.max_cents, self.currency),
                ),
            ]
            return False
        self.amount_cents = cents
        return valid

    def attribution(self) -> dict[str, str]:
        return {
            name: (getattr(self, name).data or "").strip()[:200]
            for name in ("ref", "utm_source", "utm_medium", "utm_campaign")
            if (getattr(self, name).data or "").strip()
        }
