"""Remittances to the relief partner (record, reverse) and the partner's reports."""

from __future__ import annotations

from datetime import date

from flask import flash, g, redirect, render_template, request, url_for
from flask_login import current_user

from relief import auth, boundary, db, money
from relief.errors import DomainError
from relief.forms import required
from relief.models import Remittance
from relief.treasury import dashboard, partner_reports, remittances, scope
from relief.treasury.forms import PartnerReportForm, RemittanceForm, ReverseForm
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
        form.sent_on.data = date.today()
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
    form.drive.choices = drive_choices(session)
    error, status = None, 200
    if request.method == "GET":
        form.reported_on.data = date.today()
    if form.validate_on_submit():
        try:
            with boundary.attempt():
                report = partner_reports.record_report(
                    session,
                    g.chapter,
                    drive_id=form.drive.data,
                    debt_abolished_cents=required(form.debt_abolished.cents),
                    people_helped=required(form.people_helped.data),
                    counts_households=form.unit.data == "households",
                    region=form.region.data or "",
                    reported_on=required(form.reported_on.data),
                    recorded_by=current_user,
                )
        except DomainError as failure:
            error, status = failure.message, refusal_status(failure)
        else:
            boundary.audit(
                "partner_report.record",
                f"report #{report.id} for drive #{report.drive_id}: "
                f"{money.format(report.debt_abolished_cents)} abolished, "
                f"{report.people_helped} {form.unit.data}",
            )
            flash("Recorded the partner's report.", "success")
            return redirect(url_for(".partner_report_list", chapter=g.chapter.slug))
    elif request.method == "POST":
        status = 400
    return render_template(
        "treasurer/partner_reports.html",
        form=form,
        error=error,
        reports=partner_reports.reports_for(session, g.chapter),
        drive_rows=dashboard.by_drive(session, g.chapter),
    ), status
