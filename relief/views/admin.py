"""Coalition admin screens: the audit log, gifts of no chapter and parked Stripe events,
drives' host chapters, the outbox (jobs and emails, with a retry button), accounts and
chapters (invite, change a role, remove, create a chapter), and what receipts say about the
organization (legal name, EIN, address, contact, tax statement)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectChoice  # type: ignore[attr-defined]  # (types-WTForms predates 3.3)
from wtforms.fields import (
    BooleanField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional

from relief import accounts, auth, boundary, db, drives, mail, money, organization, outbox
from relief.errors import DomainError
from relief.forms import no_control_characters
from relief.models import AccountRole, utcnow
from relief.organize.forms import HostForm
from relief.payments import drain, webhooks
from relief.treasury import audit, gifts, journal
from relief.treasury.forms import ActionForm, AdminAssignForm
from relief.web import refusal_status, whole_number_arg

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE = 200


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/audit")
@auth.admin_required
def audit_log():
    before = whole_number_arg("before")
    lines = audit.recent(db.session(), limit=PAGE, before_id=before)
    return render_template("admin/audit.html", lines=lines, page_size=PAGE)


def _assign_form(session, formdata=None):
    form = AdminAssignForm(formdata=formdata)
    form.target.choices = [
        SelectChoice(f"{drive.id}:{chapter.id}", f"{drive.title} — {chapter.name}")
        for drive, chapter in gifts.drive_chapter_pairs(session)
    ]
    return form


def _render_unassigned(session, error=None, status=200):
    return render_template(
        "admin/unassigned.html",
        gifts=gifts.unassigned_of_no_chapter(session),
        parked=webhooks.parked_events(session),
        form=_assign_form(session),
        run_form=ActionForm(),
        error=error,
    ), status


@bp.get("/unassigned")
@auth.admin_required
def unassigned():
    return _render_unassigned(db.session())


@bp.post("/unassigned/<int:gift_id>")
@auth.admin_required
def assign(gift_id):
    session = db.session()
    gifts.unassigned_gift_of_no_chapter(session, gift_id)  # 404 unless it is waiting
    form = _assign_form(session, request.form)
    if not form.validate():
        return _render_unassigned(session, "Choose a drive and chapter.", 400)
    drive_id, chapter_id = (int(part) for part in form.target.data.split(":"))
    try:
        with boundary.attempt():
            gift, chapter = gifts.assign_of_no_chapter(session, gift_id, drive_id, chapter_id)
    except DomainError as failure:
        return _render_unassigned(session, failure.message, refusal_status(failure))
    boundary.audit(
        "gift.assign",
        f"gift #{gift.id} ({money.format(gift.amount_cents)}) assigned to drive #{gift.drive_id}",
        chapter=chapter,
    )
    flash(f"Gift #{gift.id} is now counted in its drive and chapter.", "success")
    return redirect(url_for(".unassigned"))


@bp.post("/events/<event_id>/run")
@auth.admin_required
def run_held_event(event_id):
    """Run a held Stripe event again, once its cause is gone (held again if it is not)."""
    session = db.session()
    outcome = webhooks.run_held(session, event_id)  # NotFound: 404
    said = "; ".join(outcome.messages)
    boundary.audit("stripe.run", f"held Stripe event {event_id} ({outcome.type}) run again: {said}")
    if outcome.parked:
        reason = said.removeprefix("held: ")
        flash(f"Stripe event {event_id} is held again: {reason}", "error")
    else:
        flash(f"Stripe event {event_id} ran: {said}", "success")
    return redirect(url_for(".unassigned"))


def _render_drives(session, error=None, status=200):
    hostings = drives.hostings(session)
    forms = {}
    for hosting in hostings:
        form = HostForm(prefix=hosting.drive.slug)
        form.chapter.choices = [
            SelectChoice(chapter.slug, chapter.name) for chapter in hosting.chapters
        ]
        form.chapter.data = hosting.host.slug
        forms[hosting.drive.id] = form
    return render_template("admin/drives.html", hostings=hostings, forms=forms, error=error), status


@bp.get("/drives")
@auth.admin_required
def drive_list():
    return _render_drives(db.session())


@bp.post("/drives/<slug>/host")
@auth.admin_required
def drive_host(slug):
    session = db.session()
    drive = drives.get_drive(session, slug)
    form = HostForm(request.form, prefix=drive.slug)
    form.chapter.choices = [
        SelectChoice(chapter.slug, chapter.name)
        for chapter in drives.hosting(session, drive).chapters
    ]
    if not form.validate():
        return _render_drives(session, "Choose one of the drive's chapters as its host.", 400)
    try:
        with boundary.attempt():
            host = drives.set_host(session, drive, form.chapter.data)
    except DomainError as failure:
        return _render_drives(session, failure.message, refusal_status(failure))
    if host is not None:
        boundary.audit(
            "drive.host",
            f"drive {drive.slug}: host chapter is now {host.slug} (it holds the gifts to the "
            "whole drive)",
            chapter=host,
        )
        flash(f"{host.name} now hosts “{drive.title}”.", "success")
    return redirect(url_for(".drive_list"))


@bp.get("/outbox")
@auth.admin_required
def outbox_page():
    now = utcnow()
    view = mail.outbox_view(db.session(), current_app.config, now)
    return render_template(
        "admin/outbox.html",
        view=view,
        stripe_events=drain.backlog(db.session()),
        now=now,
        sending=current_app.config.get("SMTP") is not None,
        max_attempts=outbox.MAX_ATTEMPTS,
    )


@bp.post("/outbox/<int:job_id>/retry")
@auth.admin_required
def outbox_retry(job_id):
    job = outbox.retry(db.session(), job_id)  # 404 unless it failed or was kept
    boundary.audit("outbox.retry", f"job #{job.id} ({job.key}) queued again")
    flash(f"{job.key} is queued again: the worker runs it next.", "success")
    return redirect(url_for(".outbox_page"))


# --- Accounts and chapters --------------------------------------------------------------------

ROLE_CHOICES = [SelectChoice("treasurer", "Treasurer"), SelectChoice("organizer", "Organizer")]


class InviteForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=320), no_control_characters])
    role = SelectField("Role", choices=ROLE_CHOICES)
    chapters = SelectMultipleField("In the chapters", choices=[], validate_choice=True)
    admin = BooleanField("Coalition admin (every chapter, the audit log, these accounts)")


class RoleForm(FlaskForm):
    chapter = SelectField("Chapter", choices=[])
    role = SelectField("Role", choices=[*ROLE_CHOICES, SelectChoice(accounts.NO_ROLE, "No role")])


class ChapterForm(FlaskForm):
    slug = StringField(
        "Short name in links (e.g. st-louis)",
        validators=[DataRequired(), Length(max=64), no_control_characters],
    )
    name = StringField("Name", validators=[DataRequired(), Length(max=200), no_control_characters])
    region = StringField(
        "Region (e.g. MO)", validators=[Optional(), Length(max=64), no_control_characters]
    )


def _chapter_choices(session) -> list[SelectChoice]:
    return [
        SelectChoice(chapter.slug, f"{chapter.name} ({chapter.slug})")
        for chapter in accounts.chapters(session)
    ]


def _render_accounts(session, error=None, status=200, invite=None, chapter=None):
    choices = _chapter_choices(session)
    invite = invite or InviteForm(formdata=None)
    invite.chapters.choices = choices
    role_form = RoleForm(formdata=None)
    role_form.chapter.choices = choices
    return render_template(
        "admin/accounts.html",
        accounts=auth.accounts(session),
        invite=invite,
        role_form=role_form,
        chapter_form=chapter or ChapterForm(formdata=None),
        action_form=ActionForm(formdata=None),
        error=error,
    ), status


@bp.get("/accounts")
@auth.admin_required
def account_list():
    return _render_accounts(db.session())


@bp.post("/accounts/invite")
@auth.admin_required
def invite():
    session = db.session()
    form = InviteForm()
    form.chapters.choices = _chapter_choices(session)
    if not form.validate():
        return _render_accounts(session, "Give an email address and a role.", 400, invite=form)
    try:
        with boundary.attempt():
            user, link = accounts.invite(
                session,
                current_app.config["SECRET_KEY"],
                form.email.data or "",
                invited_by=current_user.email,
                chapter_slugs=form.chapters.data or [],
                role=form.role.data or "",
                admin=bool(form.admin.data),
            )
    except DomainError as failure:
        return _render_accounts(session, failure.message, refusal_status(failure), invite=form)
    what = ", ".join(
        [
            *(["coalition admin"] if user.is_admin else []),
            *(f"{form.role.data} of {slug}" for slug in form.chapters.data or []),
        ]
    )
    boundary.audit("user.invite", f"{user.email}: {what}; link #{link.id} valid 7 days")
    flash(f"{user.email} is invited: the email with their link is on its way.", "success")
    return redirect(url_for(".account_list"))


@bp.post("/accounts/<int:user_id>/role")
@auth.admin_required
def account_role(user_id):
    session = db.session()
    accounts.get_account(session, user_id)  # 404 unless it is an active account
    form = RoleForm()
    form.chapter.choices = _chapter_choices(session)
    if not form.validate():
        return _render_accounts(session, "Choose a chapter and a role.", 400)
    try:
        with boundary.attempt():
            changed = accounts.change_role(
                session, user_id, form.chapter.data or "", form.role.data or ""
            )
    except DomainError as failure:
        return _render_accounts(session, failure.message, refusal_status(failure))
    boundary.audit("user.role", changed)
    flash(changed + ".", "success")
    return redirect(url_for(".account_list"))


@bp.post("/accounts/<int:user_id>/remove")
@auth.admin_required
def account_remove(user_id):
    session = db.session()
    if not ActionForm().validate():
        return _render_accounts(session, "The form expired: try again.", 400)
    try:
        with boundary.attempt():
            user, ended = accounts.remove(session, user_id, current_user)
    except DomainError as failure:
        return _render_accounts(session, failure.message, refusal_status(failure))
    boundary.audit("user.remove", f"{user.email}: {ended} sign-in sessions ended")
    flash(f"Removed {user.email}: signed out everywhere, no role left.", "success")
    return redirect(url_for(".account_list"))


@bp.post("/accounts/<int:user_id>/two-factor-off")
@auth.admin_required
def account_two_factor_off(user_id):
    """A person lost their phone and their recovery codes: an admin turns their two-factor
    sign-in off (they are signed out everywhere and set it up again where it is required)."""
    session = db.session()
    if not ActionForm().validate():
        return _render_accounts(session, "The form expired: try again.", 400)
    try:
        with boundary.attempt():
            user, ended = accounts.reset_two_factor(session, user_id, current_user)
    except DomainError as failure:
        return _render_accounts(session, failure.message, refusal_status(failure))
    boundary.audit("user.two_factor_reset", f"{user.email}: turned off; {ended} sessions ended")
    flash(
        f"Two-factor sign-in is off for {user.email}; they are signed out everywhere and "
        "sign in next with their password.",
        "success",
    )
    return redirect(url_for(".account_list"))


@bp.post("/chapters")
@auth.admin_required
def chapter_create():
    session = db.session()
    form = ChapterForm()
    if not form.validate():
        return _render_accounts(
            session, "Give the chapter a short name and a name.", 400, chapter=form
        )
    try:
        with boundary.attempt():
            chapter = drives.create_chapter(
                session, form.slug.data or "", form.name.data or "", form.region.data or None
            )
    except DomainError as failure:
        return _render_accounts(session, failure.message, refusal_status(failure), chapter=form)
    boundary.audit("chapter.create", f"{chapter.slug}: {chapter.name}", chapter=chapter)
    flash(f"Chapter {chapter.name} is created.", "success")
    return redirect(url_for(".account_list"))


class ReceiptSettingsForm(FlaskForm):
    """Blank: the server's setting applies (shown beside each field)."""

    legal_name = StringField("Legal name", validators=[Length(max=200), no_control_characters])
    ein = StringField("EIN (12-3456789)", validators=[Length(max=20), no_control_characters])
    address = StringField("Address", validators=[Length(max=300), no_control_characters])
    contact_email = EmailField(
        "Contact email for donors", validators=[Length(max=320), no_control_characters]
    )
    statement = TextAreaField("Tax statement", validators=[Length(max=2000)])


def _render_organization(session, form=None, error=None, status=200):
    if form is None:
        form = ReceiptSettingsForm(formdata=None, obj=organization.saved(session))
    return render_template(
        "admin/organization.html",
        form=form,
        server={
            setting: current_app.config.get(setting, "") for _c, setting, _l in organization.FIELDS
        },
        fields=organization.FIELDS,
        printed=organization.issuer(session, current_app.config),
        error=error,
    ), status


@bp.get("/organization")
@auth.admin_required
def organization_page():
    return _render_organization(db.session())


@bp.post("/organization")
@auth.admin_required
def organization_save():
    session = db.session()
    form = ReceiptSettingsForm()
    if not form.validate():
        problems = " ".join(m for messages in form.errors.values() for m in messages)
        return _render_organization(session, form, problems or "Check the fields.", 400)
    wanted = organization.ReceiptFields(
        **{column: form.data.get(column) or "" for column, _s, _l in organization.FIELDS}
    )
    try:
        with boundary.attempt():
            changed = organization.save(session, wanted, by=current_user.email)
    except DomainError as failure:
        return _render_organization(session, form, failure.message, refusal_status(failure))
    if changed:
        boundary.audit("organization.receipt_settings", changed)
        flash("Saved: receipts and statements print these from now on.", "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for(".organization_page"))


# --- The chart of accounts (the journal export's account names) ----------------------------------


class ChartForm(FlaskForm):
    """A number and a name per account role (fields ``<role>_number``, ``<role>_name``)."""


for _role in AccountRole:
    setattr(
        ChartForm,
        f"{_role.value}_number",
        StringField("Number", validators=[Optional(), Length(max=20), no_control_characters]),
    )
    setattr(
        ChartForm,
        f"{_role.value}_name",
        StringField("Name", validators=[DataRequired(), Length(max=100), no_control_characters]),
    )


def _chart_form(session, formdata=None) -> ChartForm:
    form = ChartForm(formdata=formdata)
    if formdata is None:
        for role, account in journal.chart(session).items():
            form[f"{role.value}_number"].data = account.number
            form[f"{role.value}_name"].data = account.name
    return form


def _render_chart(session, form, error=None, status=200):
    rows = [
        (role, journal.ROLE_HELP[role], form[f"{role.value}_number"], form[f"{role.value}_name"])
        for role in journal.DEFAULT_CHART
    ]
    return render_template(
        "admin/chart.html", form=form, rows=rows, defaults=journal.DEFAULT_CHART, error=error
    ), status


@bp.get("/chart")
@auth.admin_required
def chart_page():
    session = db.session()
    return _render_chart(session, _chart_form(session))


@bp.post("/chart")
@auth.admin_required
def chart_page_save():
    session = db.session()
    form = _chart_form(session, request.form)
    if not form.validate():
        return _render_chart(
            session,
            form,
            "Every account needs a name (up to 100 characters); a number has up to 20.",
            400,
        )
    wanted = {
        role: (form[f"{role.value}_number"].data or "", form[f"{role.value}_name"].data or "")
        for role in AccountRole
    }
    try:
        with boundary.attempt():
            changes = journal.set_chart(session, wanted, current_user)
    except DomainError as failure:
        return _render_chart(session, form, failure.message, refusal_status(failure))
    if changes:
        boundary.audit("chart.edit", "; ".join(changes)[:500])
        flash(f"The chart of accounts is saved ({len(changes)} changed).", "success")
    else:
        flash("Nothing changed.", "success")
    return redirect(url_for(".chart_page"))
