"""Coalition admin screens: the audit log, gifts of no chapter and parked Stripe events,
drives' host chapters, and the outbox (jobs and emails, with a retry button)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from wtforms import SelectChoice  # type: ignore[attr-defined]  # (types-WTForms predates 3.3)

from relief import auth, boundary, db, drives, mail, money, outbox
from relief.errors import DomainError
from relief.models import utcnow
from relief.organize.forms import HostForm
from relief.payments import webhooks
from relief.treasury import audit, gifts
from relief.treasury.forms import AdminAssignForm
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
    view = mail.outbox_view(db.session(), current_app.config, utcnow())
    return render_template(
        "admin/outbox.html",
        view=view,
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
