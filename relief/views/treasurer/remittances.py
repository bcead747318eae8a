"""Remittances to the relief partner (record, reverse) and the partner's reports."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from relief import auth, boundary, db, ledger, money
from relief.errors import DomainError
from relief.forms import required
from relief.models import Drive, Remittance
from relief.treasury import dashboard, partner_reports, remittances, scope
from relief.treasury.forms import (
    PartnerReportCorrectionForm,
    PartnerReportForm,
    RemittanceForm,
    ReverseForm,
)
from relief.views.treasurer.blueprint import bp, drive_choices, first_record
from relief.web import refusal_status


@bp.route("/<chapter>/remittances", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def remittance_list(chapter):
    session = db.session()
    form = RemittanceForm()
    form.drive.choices = drive_choices(session)
    error, first, status = None, None, 200
    if request.method == "GET":
        form.sent_on.data = ledger.today()
    if form.validate_on_submit():
        try:
            remittance = boundary.retry_on_conflict(
                lambda: remittances.record_remittance(
                    session,
                    g.chapter,
                    drive_id=form.drive.data,
                    amount_cents=required(form.amount.cents),
                    sent_on=required(form.sent_on.data),
                    reference=required(form.reference.data),
                    recorded_by=current_user,
                    form_token=form.form_token.data,
                )
            )
        except DomainError as failure:
            error, first, status = failure.message, first_record(failure), refusal_status(failure)
        else:
            boundary.audit(
                "remittance.record",
                f"remittance #{remittance.id}: {money.format(remittance.amount_cents)} "
                f"sent {remittance.sent_on.isoformat()}, ref {remittance.reference}",
            )
            flash(f"Recorded the remittance of {money.format(remittance.amount_cents)}.", "success")
            return redirect(url_for(".remittance_list", chapter=g.chapter.slug))
    elif request.method == "POST":
        status = 400
    return _render_remittances(session, form, error, status, first)


def _render_remittances(session, form, error=None, status=200, first=None):
    return render_template(
        "treasurer/remittances.html",
        form=form,
        reverse_form=ReverseForm(formdata=None),
        error=error,
        first=first,
        rows=remittances.remittances_of(session, g.chapter),
        drive_rows=dashboard.by_drive(session, g.chapter),
    ), status


@bp.post("/<chapter>/remittances/<int:remittance_id>/reverse")
@auth.chapter_treasurer_required
def remittance_reverse(chapter, remittance_id):
    session = db.session()
    scope.get_owned(session, Remittance, remittance_id, g.chapter, "remittance")
    form = ReverseForm()
    new_form = RemittanceForm(formdata=None)
    new_form.drive.choices = drive_choices(session)
    if not form.validate():
        return _render_remittances(session, new_form, "Give the reason for reversing it.", 400)
    try:
        with boundary.attempt():
            entry = remittances.reverse_remittance(
                session, g.chapter, remittance_id, required(form.reason.data)
            )
    except DomainError as failure:
        return _render_remittances(session, new_form, failure.message, refusal_status(failure))
    boundary.audit(
        "remittance.reverse",
        f"remittance #{remittance_id}: {money.format(entry.amount_cents)} — {form.reason.data}",
    )
    flash("The remittance is reversed; the money counts as held again.", "success")
    return redirect(url_for(".remittance_list", chapter=g.chapter.slug))


@bp.route("/<chapter>/partner-reports", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def partner_report_list(chapter):
    session = db.session()
    form = PartnerReportForm()
    error, status, shown = None, 200, None
    if request.method == "GET":
        form.reported_on.data = ledger.today()
    if form.validate_on_submit():
        try:
            report = boundary.retry_on_conflict(
                lambda: partner_reports.record_report(
                    session,
                    g.chapter,
                    current_user,
                    drive_id=form.drive.data,
                    partner_reference=form.partner_reference.data or "",
                    figures=_figures(form),
                )
            )
        except partner_reports.AlreadyRecorded as repeat:
            error, status, shown = repeat.message, repeat.status_code, repeat.report.id
        except DomainError as failure:
            error, status = failure.message, refusal_status(failure)
        else:
            _audit("partner_report.record", report, form.remittances.data)
            flash(f"Recorded the partner's report {report.partner_reference}.", "success")
            return redirect(url_for(".partner_report_list", chapter=g.chapter.slug))
    elif request.method == "POST":
        status = 400
    return _render_reports(session, form, error, status, shown)


@bp.route("/<chapter>/partner-reports/<int:report_id>/correct", methods=["GET", "POST"])
@auth.chapter_treasurer_required
def partner_report_correct(chapter, report_id):
    session = db.session()
    report = partner_reports.report_of(session, g.chapter, current_user, report_id)
    form = PartnerReportCorrectionForm()
    if request.method == "GET":
        figures = partner_reports.figures_of(session, report)
        form.debt_abolished.data = money.to_decimal_text(figures.debt_abolished_cents)
        form.people_helped.data = figures.people_helped
        form.unit.data = "households" if figures.counts_households else "people"
        form.region.data = figures.region
        form.reported_on.data = figures.reported_on
        form.remittances.data = list(figures.remittance_ids)
        return _render_record(session, report, form)
    if not form.validate():
        return _render_record(session, report, form, "Give the corrected figures and the reason.")
    try:
        corrected = boundary.retry_on_conflict(
            lambda: partner_reports.correct_report(
                session,
                g.chapter,
                current_user,
                report_id,
                figures=_figures(form),
                reason=form.reason.data or "",
            )
        )
    except DomainError as failure:
        return _render_record(session, report, form, failure.message, refusal_status(failure))
    _audit("partner_report.correct", corrected, form.remittances.data)
    flash(f"Corrected the partner's report {corrected.partner_reference}.", "success")
    return redirect(url_for(".partner_report_list", chapter=g.chapter.slug))


@bp.post("/<chapter>/partner-reports/<int:report_id>/withdraw")
@auth.chapter_treasurer_required
def partner_report_withdraw(chapter, report_id):
    session = db.session()
    report = partner_reports.report_of(session, g.chapter, current_user, report_id)
    form = ReverseForm()
    correction = PartnerReportCorrectionForm(formdata=None)
    if not form.validate():
        return _render_record(session, report, correction, "Give the reason for withdrawing it.")
    try:
        with boundary.attempt():
            withdrawal = partner_reports.withdraw_report(
                session, g.chapter, current_user, report_id, form.reason.data or ""
            )
    except DomainError as failure:
        return _render_record(
            session, report, correction, failure.message, refusal_status(failure), form
        )
    _audit("partner_report.withdraw", withdrawal)
    flash(f"Withdrew the partner's report {withdrawal.partner_reference}.", "success")
    return redirect(url_for(".partner_report_list", chapter=g.chapter.slug))


def _figures(form) -> partner_reports.Figures:
    return partner_reports.Figures(
        debt_abolished_cents=form.debt_abolished.cents,
        people_helped=form.people_helped.data,
        counts_households=form.unit.data == "households",
        region=form.region.data or "",
        reported_on=form.reported_on.data,
        remittance_ids=tuple(form.remittances.data or ()),
    )


def _audit(action, report, remittance_ids=()):
    drive = db.session().get(Drive, report.drive_id)
    currency = drive.currency if drive else "USD"
    boundary.audit(action, partner_reports.describe(report, currency, remittance_ids))


def _remittance_choices(session, form):
    choices = partner_reports.remittance_choices(session, g.chapter, current_user)
    form.remittances.choices = [(c.remittance.id, c.label) for c in choices]
    return choices


def _render_reports(session, form=None, error=None, status=200, shown=None):
    """The reports page: the figures beside the projection, the form to record one (for those
    who may), every purchase with its history; ``shown`` is a record to point at."""
    form = form or PartnerReportForm(formdata=None)
    recordable = partner_reports.recordable_drives(session, g.chapter, current_user)
    form.drive.choices = [(str(drive.id), drive.title) for drive in recordable]
    _remittance_choices(session, form)
    return render_template(
        "treasurer/partner_reports.html",
        form=form,
        error=error,
        shown=shown,
        purchases=partner_reports.purchases_for(session, g.chapter, current_user),
        drive_rows=dashboard.by_drive(session, g.chapter),
    ), status


def _render_record(session, report, form, error=None, status=400, withdraw_form=None):
    """A purchase's history, with the forms to correct its newest record or withdraw it."""
    _remittance_choices(session, form)
    purchase = next(
        p
        for p in partner_reports.purchases_for(session, g.chapter, current_user)
        if p.drive.id == report.drive_id and p.newest.partner_reference == report.partner_reference
    )
    return render_template(
        "treasurer/partner_report.html",
        purchase=purchase,
        report=report,
        form=form,
        withdraw_form=withdraw_form or ReverseForm(formdata=None),
        error=error,
    ), (200 if error is None else status)
