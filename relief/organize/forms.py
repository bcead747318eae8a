"""The organizer's forms (CSRF on every one, through Flask-WTF). They check shape only — a
number, a date, a length; :mod:`relief.drives` owns the rules and says what is wrong."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField

# SelectChoice: not in types-WTForms.
from wtforms import (  # type: ignore[attr-defined]
    BooleanField,
    DateField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from relief import drives, money
from relief.errors import DomainError
from relief.treasury.forms import MoneyField


def _optional_money(form, field):
    field.cents = None
    if (field.data or "").strip():
        try:
            field.cents = money.parse(field.data)
        except DomainError as error:
            raise ValidationError(error.message) from None


class OptionalMoneyField(StringField):
    """Dollars as typed, or nothing; ``.cents`` is the parsed integer or None."""

    cents: int | None = None

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, [Optional(), *(validators or []), _optional_money], **kwargs)
        self.render_kw = {"inputmode": "decimal", "autocomplete": "off", **(self.render_kw or {})}

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.cents = None


def _ratio(form, field):
    try:
        # "100" → 10000 hundredths: a ratio is typed like an amount (the CLI's --ratio too).
        field.hundredths = money.parse(field.data or "")
    except DomainError:
        raise ValidationError(
            "Give the debt relieved per dollar as a number, such as 100 or 87.5."
        ) from None


class RatioField(StringField):
    hundredths: int | None = None

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, [DataRequired(), *(validators or []), _ratio], **kwargs)
        self.render_kw = {"inputmode": "decimal", "autocomplete": "off", **(self.render_kw or {})}


def _currency_choices():
    return [SelectChoice(code, code) for code in drives.CURRENCIES]


class DriveFields(FlaskForm):
    """What a drive's organizers set, at creation and later."""

    title = StringField("Title", validators=[DataRequired(), Length(max=200)])
    story = TextAreaField(
        "Story (why this drive; blank lines separate paragraphs)",
        validators=[Optional(), Length(max=10_000)],
    )
    goal = MoneyField("Goal ($)")
    currency = SelectField("Currency", choices=_currency_choices(), default="USD")
    ends_on = DateField("End date", validators=[Optional()])
    partner_name = StringField(
        "Relief partner", validators=[DataRequired(), Length(max=200)], default="Undue Medical Debt"
    )
    target_region = StringField(
        "Where the debt is relieved (target region)", validators=[Optional(), Length(max=200)]
    )
    ratio = RatioField("Relief ratio: debt relieved per $1", default="100")
    ratio_source = TextAreaField(
        "Source of the ratio",
        validators=[DataRequired("Cite where the ratio comes from."), Length(max=500)],
        render_kw={
            "placeholder": "e.g. Undue Medical Debt's letter to the coalition, March 2026: "
            "each $1 relieves about $100 of medical debt"
        },
    )
    ratio_as_of = DateField("Date the source states it", validators=[DataRequired()])


class NewDriveForm(DriveFields):
    slug = StringField(
        "Web address (slug)",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocapitalize": "none", "autocomplete": "off", "spellcheck": "false"},
    )
    starts_on = DateField("Start date", validators=[DataRequired()])
    chapter_goal = OptionalMoneyField("Our chapter's sub-goal ($, optional)")


class EditDriveForm(DriveFields):
    pass


class ChapterGoalForm(FlaskForm):
    sub_goal = OptionalMoneyField("Sub-goal ($; blank for none)")


class EmbedOriginsForm(FlaskForm):
    origins = TextAreaField(
        "Sites that may embed the drive (one a line, such as https://example.org)",
        validators=[Optional(), Length(max=4_000)],
        render_kw={"autocapitalize": "none", "autocomplete": "off", "spellcheck": "false"},
    )


class AddChapterForm(FlaskForm):
    chapter = SelectField("Chapter to add", validators=[DataRequired()])


class ChapterPageForm(FlaskForm):
    name = StringField("Chapter name", validators=[DataRequired(), Length(max=200)])
    region = StringField("Region (e.g. a state code: MO)", validators=[Optional(), Length(max=64)])
    blurb = TextAreaField(
        "About the chapter (public, at most 500 characters)",
        validators=[Optional(), Length(max=500)],
    )


class DriveImageForm(FlaskForm):
    """The drive's image: a photo and what it shows. The file is read by the view and checked
    by :mod:`relief.drive_images` (a sentence for anything that is not a photo)."""

    image = FileField("Photo (JPEG, PNG or WebP, at most 10 MB)")
    image_alt = StringField(
        "What the photo shows (for people who cannot see it)",
        validators=[DataRequired("Say what the photo shows."), Length(max=300)],
    )


class SupporterFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that only reads; the link can be bookmarked

    drive = SelectField("Drive", validators=[Optional()])


class HostForm(FlaskForm):
    """A coalition admin's choice of a drive's host chapter (its slug)."""

    chapter = SelectField("Host chapter", validators=[DataRequired()])


class MatchPledgeForm(FlaskForm):
    """A sponsor's match pledge (relief/matches.py owns the rules)."""

    sponsor_name = StringField(
        "Sponsor's name, as donors will see it", validators=[DataRequired(), Length(max=200)]
    )
    ratio = StringField(
        "Ratio, sponsor : donors (1:1 doubles a gift)",
        validators=[DataRequired(), Length(max=10)],
        default="1:1",
        render_kw={"autocomplete": "off", "placeholder": "1:1"},
    )
    cap = MoneyField("Up to ($: the most the sponsor gives)")
    starts_on = DateField("First day gifts count", validators=[DataRequired()])
    ends_on = DateField("Last day gifts count", validators=[DataRequired()])
    counts = SelectField(
        "Which gifts count",
        choices=[
            SelectChoice("online", "Gifts given online (card) only"),
            SelectChoice("all", "All gifts, cash and checks included"),
        ],
        default="online",
    )
    chapter_only = BooleanField("Only gifts credited to our chapter")


class WithdrawPledgeForm(FlaskForm):
    reason = TextAreaField(
        "Why it is withdrawn (kept in the audit log)",
        validators=[DataRequired("Give the reason."), Length(max=500)],
    )
