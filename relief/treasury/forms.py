"""WTForms for sign-in and the treasurer's screens (CSRF on every one, through Flask-WTF).

Forms only check shape (present, a number, a date); the services own the rules and raise
domain errors with sentences, which the views show beside the form.
"""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (  # type: ignore[attr-defined]  # SelectChoice: not in types-WTForms
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    EqualTo,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from relief import money
from relief.errors import DomainError
from relief.forms import no_control_characters
from relief.treasury import once


def _money(form, field):
    try:
        field.cents = money.parse(field.data or "")
    except DomainError as error:
        raise ValidationError(error.message) from None


class MoneyField(StringField):
    """Dollars as typed ("1,600.50"); ``.cents`` holds the parsed integer after validation."""

    cents: int | None = None

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, [DataRequired(), *(validators or []), _money], **kwargs)
        self.render_kw = {"inputmode": "decimal", "autocomplete": "off", **(self.render_kw or {})}


class FormTokenField(HiddenField):
    """A money form's one-time token: a new one each time the form is shown, sent back as
    typed when a refused form is shown again (``treasury.once`` keeps it to one record)."""

    def __init__(self, **kwargs):
        super().__init__(
            default=once.new_token,
            # InputRequired looks at what was sent: a missing token must not be replaced by
            # the default, a fresh one that would record again.
            validators=[
                InputRequired("This form is out of date; reload the page and enter it again.")
            ],
            **kwargs,
        )


class LoginForm(FlaskForm):
    email = EmailField(
        "Email",
        validators=[DataRequired(), Length(max=320), no_control_characters],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField("Sign in")


class LogoutForm(FlaskForm):
    submit = SubmitField("Sign out")


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Current password",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )
    new_password = PasswordField(
        "New password (at least 12 characters)",
        validators=[DataRequired(), Length(max=1024)],
        render_kw={"autocomplete": "new-password"},
    )
    repeat_password = PasswordField(
        "New password again",
        validators=[
            DataRequired(),
            EqualTo("new_password", message="The two new passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token (post a batch, remove a line)."""


class PostBatchForm(FlaskForm):
    """The button that posts a batch to the ledger."""

    form_token = FormTokenField()


class NewBatchForm(FlaskForm):
    form_token = FormTokenField()
    drive = SelectField("Drive", validators=[DataRequired()])
    label = StringField(
        "Event or slip name",
        validators=[DataRequired(), Length(max=200)],
        render_kw={"placeholder": "Potluck, March 3"},
    )
    slip_number = StringField(
        "Deposit slip number (optional; a slip is entered once)",
        validators=[Optional(), Length(max=64)],
        render_kw={"autocomplete": "off"},
    )
    expected_count = IntegerField(
        "Number of gifts on the slip",
        validators=[InputRequired(), NumberRange(min=1, max=2000)],
        render_kw={"inputmode": "numeric"},
    )
    expected_total = MoneyField("Total on the slip ($)")
    received = DateField(
        "Date the money came in (the event's date; each gift's unless it says otherwise)",
        validators=[Optional()],
    )
    held_by = StringField(
        "Who holds the money until it is deposited", validators=[Optional(), Length(max=200)]
    )
    submit = SubmitField("Start the batch")


class LineForm(FlaskForm):
    amount = MoneyField("Amount ($)")
    method = SelectField(
        "Cash or check", choices=[SelectChoice("check", "Check"), SelectChoice("cash", "Cash")]
    )
    check_number = StringField(
        "Check number", validators=[Optional(), Length(max=64)], render_kw={"inputmode": "numeric"}
    )
    name = StringField("Donor's name", validators=[Optional(), Length(max=200)])
    anonymous = BooleanField("Keep the name off the public supporter list")
    received = DateField("Date received", validators=[DataRequired()])
    submit = SubmitField("Add this gift")


class ImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired()])
    submit = SubmitField("Import the gifts")


class CustodyForm(FlaskForm):
    held_by = StringField("Who holds the money", validators=[Optional(), Length(max=200)])
    deposited_on = DateField("Deposited on", validators=[Optional()])
    submit = SubmitField("Save")


class DirectGiftForm(FlaskForm):
    form_token = FormTokenField()
    drive = SelectField("Drive", validators=[DataRequired()])
    amount = MoneyField("Amount ($)")
    method = SelectField(
        "Cash or check", choices=[SelectChoice("check", "Check"), SelectChoice("cash", "Cash")]
    )
    check_number = StringField("Check number", validators=[Optional(), Length(max=64)])
    name = StringField("Donor's name", validators=[Optional(), Length(max=200)])
    anonymous = BooleanField("Keep the name off the public supporter list")
    received = DateField("Date the partner received it", validators=[DataRequired()])
    partner_reference = StringField(
        "Partner's receipt or reference", validators=[Optional(), Length(max=200)]
    )
    submit = SubmitField("Record the gift")


class SponsorGiftForm(FlaskForm):
    """The sponsor's payment of a match pledge (relief/treasury/sponsor_gifts.py)."""

    form_token = FormTokenField()
    amount = MoneyField("Amount ($)")
    method = SelectField(
        "Cash or check", choices=[SelectChoice("check", "Check"), SelectChoice("cash", "Cash")]
    )
    check_number = StringField("Check number", validators=[Optional(), Length(max=64)])
    received = DateField("Date received", validators=[DataRequired()])
    submit = SubmitField("Record the sponsor's gift")


class CorrectionForm(FlaskForm):
    form_token = FormTokenField()
    correct_amount = StringField(
        "The amount the gift should count for ($; 0 voids it)",
        validators=[DataRequired()],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    received = DateField(
        "The date it was received (change it to move the gift to another day)",
        validators=[Optional()],
    )
    reason = TextAreaField("Reason", validators=[DataRequired(), Length(max=400)])
    submit = SubmitField("Post the correction")


class AssignForm(FlaskForm):
    drive = SelectField("Drive", validators=[DataRequired()])
    submit = SubmitField("Assign")


class RemittanceForm(FlaskForm):
    form_token = FormTokenField()
    drive = SelectField("Drive", validators=[DataRequired()])
    amount = MoneyField("Amount sent ($)")
    sent_on = DateField("Date sent", validators=[DataRequired()])
    reference = StringField(
        "Check number, wire or ACH reference", validators=[DataRequired(), Length(max=200)]
    )
    submit = SubmitField("Record the remittance")


class PartnerReportFiguresForm(FlaskForm):
    """What a record says about a purchase; a correction posts these with its reason."""

    debt_abolished = MoneyField("Medical debt abolished ($)")
    people_helped = IntegerField(
        "Number helped",
        validators=[InputRequired(), NumberRange(min=0)],
        render_kw={"inputmode": "numeric"},
    )
    unit = SelectField(
        "Counted as",
        choices=[SelectChoice("people", "People"), SelectChoice("households", "Households")],
    )
    region = StringField("Region", validators=[Optional(), Length(max=200)])
    reported_on = DateField("Date of the report", validators=[DataRequired()])
    #: The service checks each is one of the drive's remittances, not reversed.
    remittances = SelectMultipleField(
        "Remittances that paid for it",
        coerce=int,
        validate_choice=False,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
    )


class PartnerReportForm(PartnerReportFiguresForm):
    #: Which drives the user may record for is the service's rule, with its sentence.
    drive = SelectField("Drive", validators=[DataRequired()], validate_choice=False)
    partner_reference = StringField(
        "The partner's reference for the purchase (letter or invoice number)",
        validators=[DataRequired(), Length(max=200)],
    )
    submit = SubmitField("Record the report")


class PartnerReportCorrectionForm(PartnerReportFiguresForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=400)])
    submit = SubmitField("Record the correction")


class ExportForm(FlaskForm):
    class Meta:
        csrf = False  # a GET that only reads; the link can be bookmarked

    drive = SelectField("Drive", validators=[Optional()])
    #: A whole month (YYYY-MM, as the browser's month picker sends it): instead of the dates.
    month = StringField("Month", validators=[Optional(), Regexp(r"^\d{4}-(0[1-9]|1[0-2])$")])
    since = DateField("From", validators=[Optional()])
    until = DateField("To", validators=[Optional()])


class ReverseForm(FlaskForm):
    reason = StringField("Reason", validators=[DataRequired(), Length(max=400)])
    submit = SubmitField("Reverse")


class AdminAssignForm(FlaskForm):
    target = SelectField("Drive and chapter", validators=[DataRequired()])
    submit = SubmitField("Assign")


class BankImportForm(FlaskForm):
    file = FileField("Bank statement (CSV)", validators=[FileRequired()])
    submit = SubmitField("Import and match")


class MonthCloseForm(FlaskForm):
    month = SelectField("Month", validators=[DataRequired()])
    reconciled = BooleanField(
        "I have checked this month: payouts and deposits match the ledger",
        validators=[DataRequired("Confirm that you checked the month before closing it.")],
    )
    #: Admins only: closing a month whose checklist is not all done needs a written reason.
    override_reason = TextAreaField(
        "Reason to close it although it is not reconciled (admins only; written to the audit log)",
        validators=[Optional(), Length(max=1000)],
    )
    submit = SubmitField("Close the month")
