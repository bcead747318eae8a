"""The organizer's screens: a chapter's drives, their pages and its supporters.

Every route but the chapter list is guarded by ``chapter_organizer_required`` (g.chapter, 404
unless the user organizes it or is an admin), and a drive is loaded through the chapter
(``workspace.drive_of``), so a drive the chapter does not take part in is a 404 too.

Who may do what (also said on the screens and in docs/roles.md):
- an organizer of a chapter creates drives with that chapter taking part, and edits every
  drive the chapter takes part in (the drive is shared: its title, story, goal, dates,
  partner and ratio are the same for all its chapters);
- they set only their own chapter's sub-goal in a drive;
- they add another chapter to a drive their chapter takes part in;
- a coalition admin may do all of this as any chapter.

Each POST: parse the form, call one service of :mod:`relief.drives` (shared with the CLI)
inside ``boundary.attempt()``, write the audit line (``boundary.audit``) and redirect — the
boundary commits the unit — or show the service's sentence beside the form, with what was typed
kept and nothing written.
"""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy.exc import SQLAlchemyError
from wtforms import SelectChoice  # type: ignore[attr-defined]  # not in types-WTForms

from relief import auth, boundary, db, drive_images, drives, ledger, matches, members, money, share
from relief.errors import DomainError
from relief.forms import required
from relief.models import MatchCounts, utcnow
from relief.organize import workspace
from relief.organize.forms import (
    AddChapterForm,
    ChapterGoalForm,
    ChapterPageForm,
    DriveImageForm,
    EditDriveForm,
    EmbedOriginsForm,
    MatchPledgeForm,
    NewDriveForm,
    SupporterFilterForm,
    WithdrawPledgeForm,
)
from relief.treasury import attribution
from relief.web import MAX_PAGE, refusal_status, whole_number_arg

bp = Blueprint("organizer", __name__, url_prefix="/organize")


@bp.after_request
def no_store(response):
    # Donor names and private messages: no browser or proxy cache keeps these pages.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_context_processor
def workspace_links():
    """``workspace_links()`` in every template: the signed-in user's workspaces (treasury,
    organizing) for the bar in base.html — only once a guard has loaded the user, so public
    pages never look up an account, and none at all if the database fails (error pages)."""

    def links() -> list[tuple[str, str, bool]]:
        user = g.get("_login_user")
        if user is None or not user.is_authenticated:
            return []
        try:
            session = db.session()
            found = []
            if user.is_admin or auth.chapters_of(session, user):
                found.append(("Treasury", url_for("treasurer.index"), "treasurer."))
            if user.is_admin or auth.chapters_organized(session, user):
                found.append(("Organize", url_for("organizer.index"), "organizer."))
        except SQLAlchemyError:
            return []
        here = request.endpoint or ""
        return [(label, url, here.startswith(prefix)) for label, url, prefix in found]

    return {"workspace_links": links}


@bp.get("/")
@login_required
def index():
    chapters = auth.chapters_organized(db.session(), current_user)
    return render_template("organizer/index.html", chapters=chapters)


@bp.get("/<chapter>/")
@auth.chapter_organizer_required
def chapter_home(chapter):
    rows = workspace.chapter_drives(db.session(), g.chapter)
    return render_template("organizer/chapter.html", rows=rows)


# --- Drives ------------------------------------------------------------------------------------


@bp.route("/<chapter>/drives/new", methods=["GET", "POST"])
@auth.chapter_organizer_required
def drive_new(chapter):
    session = db.session()
    form = NewDriveForm()
    error, status = None, 200
    if request.method == "GET":
        today = ledger.today()  # the coalition's, as the drive's days are
        form.starts_on.data = today
        # The ratio's source is left blank on purpose: the organizer cites the one they use.
    if form.validate_on_submit():
        try:
            with boundary.attempt():
                drive = drives.create_drive(
                    session,
                    slug=required(form.slug.data),
                    title=required(form.title.data),
                    story=form.story.data or "",
                    goal_cents=required(form.goal.cents),
                    currency=form.currency.data,
                    starts_on=form.starts_on.data,
                    ends_on=form.ends_on.data,
                    partner_name=form.partner_name.data,
                    target_region=form.target_region.data,
                    ratio_hundredths=required(form.ratio.hundredths),
                    ratio_source=form.ratio_source.data,
                    ratio_as_of=form.ratio_as_of.data,
                    chapter_slugs=[g.chapter.slug],
                    host_slug=g.chapter.slug,
                    chapter_goals=(
                        {g.chapter.slug: form.chapter_goal.cents}
                        if form.chapter_goal.cents
                        else None
                    ),
                )
        except DomainError as failure:
            error, status = failure.message, refusal_status(failure)
        else:
            boundary.audit(
                "drive.create",
                f"drive {drive.slug} “{drive.title}”: goal "
                f"{money.format(drive.goal_cents, drive.currency)}, ratio "
                f"{workspace.ratio_text(drive.ratio_hundredths)}:1; host {g.chapter.slug}",
            )
            flash(f"“{drive.title}” is created and its page is live.", "success")
            return redirect(url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug))
    elif request.method == "POST":
        status = 400
    return render_template("organizer/drive_new.html", form=form, error=error), status


def _edit_form(drive, formdata=None):
    form = EditDriveForm(formdata=formdata)
    if formdata is None:
        form.title.data = drive.title
        form.story.data = drive.story
        form.goal.data = workspace.amount_text(drive.goal_cents)
        form.currency.data = drive.currency
        form.ends_on.data = drive.ends_on
        form.partner_name.data = drive.partner_name
        form.target_region.data = drive.target_region or ""
        form.ratio.data = workspace.ratio_text(drive.ratio_hundredths)
        form.ratio_source.data = drive.ratio_source
        form.ratio_as_of.data = drive.ratio_as_of
    return form


def _render_drive(
    session,
    slug,
    status=200,
    *,
    edit_form=None,
    goal_form=None,
    add_form=None,
    embed_form=None,
    image_form=None,
    error=None,
    error_at=None,
):
    detail = workspace.drive_detail(session, g.chapter, slug)
    drive = detail.row.drive
    if goal_form is None:
        goal_form = ChapterGoalForm(formdata=None)
        if detail.row.part.goal_cents:
            goal_form.sub_goal.data = workspace.amount_text(detail.row.part.goal_cents)
    if add_form is None:
        add_form = AddChapterForm(formdata=None)
    if embed_form is None:
        embed_form = EmbedOriginsForm(formdata=None)
        embed_form.origins.data = drive.embed_origins
    if image_form is None:
        image_form = DriveImageForm(formdata=None)
        image_form.image_alt.data = drive.image_alt
    add_form.chapter.choices = [
        SelectChoice(chapter.slug, chapter.name) for chapter in detail.other_chapters
    ]
    return render_template(
        "organizer/drive.html",
        detail=detail,
        drive=drive,
        edit_form=edit_form or _edit_form(drive),
        goal_form=goal_form,
        add_form=add_form,
        embed_form=embed_form,
        image_form=image_form,
        error=error,
        error_at=error_at,
    ), status


@bp.get("/<chapter>/drives/<slug>/")
@auth.chapter_organizer_required
def drive_page(chapter, slug):
    return _render_drive(db.session(), slug)


@bp.get("/<chapter>/drives/<slug>/attribution")
@auth.chapter_organizer_required
def drive_attribution(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)  # 404 unless the chapter takes part
    result = attribution.attribution(session, g.chapter, drive)
    return render_template("organizer/attribution.html", result=result)


@bp.post("/<chapter>/drives/<slug>/")
@auth.chapter_organizer_required
def drive_edit(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    form = _edit_form(drive, request.form)
    if not form.validate():
        return _render_drive(session, slug, 400, edit_form=form, error_at="edit")
    before = {name: getattr(drive, name) for name in drives.EDITABLE_DRIVE_FIELDS}
    try:
        with boundary.attempt():
            changed = drives.update_drive(
                session,
                drive,
                title=form.title.data,
                story=form.story.data or "",
                goal_cents=form.goal.cents,
                # Once locked, the form shows the currency as text and sends none: keep it.
                currency=form.currency.data if "currency" in request.form else None,
                ends_on=form.ends_on.data,
                partner_name=form.partner_name.data,
                target_region=form.target_region.data,
                ratio_hundredths=form.ratio.hundredths,
                ratio_source=form.ratio_source.data,
                ratio_as_of=form.ratio_as_of.data,
            )
    except DomainError as failure:
        return _render_drive(
            session,
            slug,
            refusal_status(failure),
            edit_form=form,
            error=failure.message,
            error_at="edit",
        )
    if changed:
        boundary.audit(
            "drive.edit",
            f"drive {drive.slug}: "
            + workspace.describe_changes(before, drive, changed, drive.currency),
        )
        message = "Saved. The drive's page shows the change now."
        if "ratio_hundredths" in changed:
            message += " Every projection (page, API, press PDF) now uses the new ratio."
        flash(message, "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug))


@bp.post("/<chapter>/drives/<slug>/goal")
@auth.chapter_organizer_required
def chapter_goal(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    form = ChapterGoalForm()
    if not form.validate():
        return _render_drive(session, slug, 400, goal_form=form, error_at="goal")
    try:
        with boundary.attempt():
            drives.set_chapter_goal(session, drive, g.chapter, form.sub_goal.cents)
    except DomainError as failure:
        return _render_drive(
            session,
            slug,
            refusal_status(failure),
            goal_form=form,
            error=failure.message,
            error_at="goal",
        )
    shown = money.format(form.sub_goal.cents, drive.currency) if form.sub_goal.cents else "none"
    boundary.audit("drive.chapter_goal", f"drive {drive.slug}: {g.chapter.slug} sub-goal {shown}")
    flash(f"{g.chapter.name}'s sub-goal is now {shown}.", "success")
    return redirect(url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug))


@bp.post("/<chapter>/drives/<slug>/chapters")
@auth.chapter_organizer_required
def drive_add_chapter(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    form = AddChapterForm()
    form.chapter.choices = [
        SelectChoice(other.slug, other.name)
        for other in workspace.drive_detail(session, g.chapter, slug).other_chapters
    ]
    if not form.validate():
        form.chapter.errors = ["Choose a chapter that does not take part yet."]
        return _render_drive(session, slug, 400, add_form=form, error_at="add")
    try:
        with boundary.attempt():
            added = drives.add_chapter_to_drive(session, drive, form.chapter.data)
    except DomainError as failure:
        return _render_drive(
            session,
            slug,
            refusal_status(failure),
            add_form=form,
            error=failure.message,
            error_at="add",
        )
    boundary.audit("drive.chapter_add", f"drive {drive.slug}: {added.slug} takes part")
    flash(
        f"{added.name} now takes part in “{drive.title}”, with its own page; its organizers "
        "can set its sub-goal.",
        "success",
    )
    return redirect(url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug))


@bp.post("/<chapter>/drives/<slug>/image")
@auth.chapter_organizer_required
def drive_image(chapter, slug):
    """Upload the drive's photo (or change what it shows): Pillow checks and re-encodes it;
    anything that is not a photo is refused with a sentence, the description kept."""
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    form = DriveImageForm()
    if not form.validate():
        return _render_drive(session, slug, 400, image_form=form, error_at="image")
    upload = request.files.get("image")
    data = upload.read() if upload and upload.filename else None
    try:
        with boundary.attempt():
            replaced = drive_images.set_image(session, drive, data, form.image_alt.data or "")
    except DomainError as failure:
        return _render_drive(
            session,
            slug,
            refusal_status(failure),
            image_form=form,
            error=failure.message,
            error_at="image",
        )
    if replaced:
        boundary.audit("drive.image", f"drive {drive.slug}: image {drive.image_digest}")
        flash("The photo is on the drive's page now.", "success")
    else:
        boundary.audit("drive.image", f"drive {drive.slug}: the photo's description changed")
        flash("Saved the photo's description.", "success")
    return redirect(url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug))


@bp.post("/<chapter>/drives/<slug>/image/remove")
@auth.chapter_organizer_required
def drive_image_remove(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    if drive_images.remove_image(session, drive):
        boundary.audit("drive.image", f"drive {drive.slug}: image removed")
        flash("The photo is off the drive's page.", "success")
    return redirect(url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug))


@bp.post("/<chapter>/drives/<slug>/embed")
@auth.chapter_organizer_required
def drive_embed_origins(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    form = EmbedOriginsForm()
    if not form.validate():
        return _render_drive(session, slug, 400, embed_form=form, error_at="embed")
    before = drive.embed_origins
    try:
        with boundary.attempt():
            origins = share.set_embed_origins(session, drive, form.origins.data or "")
    except DomainError as failure:
        return _render_drive(
            session,
            slug,
            refusal_status(failure),
            embed_form=form,
            error=failure.message,
            error_at="embed",
        )
    if drive.embed_origins == before:
        flash("Nothing changed.", "info")
    else:
        listed = ", ".join(origins) or "none"
        boundary.audit("drive.embed_origins", f"drive {drive.slug}: sites that may embed: {listed}")
        flash(
            f"Saved. Sites that may embed the drive: {listed}."
            if origins
            else "Saved. No site may embed the drive now.",
            "success",
        )
    page = url_for(".drive_page", chapter=g.chapter.slug, slug=drive.slug, _anchor="embed")
    return redirect(page)


# --- The chapter's public page, its supporters -------------------------------------------------


@bp.route("/<chapter>/page", methods=["GET", "POST"])
@auth.chapter_organizer_required
def chapter_page(chapter):
    session = db.session()
    form = ChapterPageForm()
    error, status = None, 200
    if request.method == "GET":
        form.name.data = g.chapter.name
        form.region.data = g.chapter.region or ""
        form.blurb.data = g.chapter.blurb
    if form.validate_on_submit():
        before = {name: getattr(g.chapter, name) for name in ("name", "region", "blurb")}
        try:
            with boundary.attempt():
                changed = drives.update_chapter(
                    session,
                    g.chapter,
                    name=required(form.name.data),
                    region=form.region.data,
                    blurb=form.blurb.data or "",
                )
        except DomainError as failure:
            error, status = failure.message, refusal_status(failure)
        else:
            if changed:
                boundary.audit(
                    "chapter.edit",
                    f"chapter {g.chapter.slug}: "
                    + workspace.describe_changes(before, g.chapter, changed),
                )
                flash("Saved. Every drive page of the chapter shows it now.", "success")
            else:
                flash("Nothing changed.", "info")
            return redirect(url_for(".chapter_page", chapter=g.chapter.slug))
    elif request.method == "POST":
        status = 400
    return render_template(
        "organizer/chapter_page.html",
        form=form,
        error=error,
        rows=workspace.chapter_drives(session, g.chapter),
    ), status


@bp.get("/<chapter>/supporters")
@auth.chapter_organizer_required
def supporters(chapter):
    session = db.session()
    page = whole_number_arg("page", most=MAX_PAGE) or 1
    form = SupporterFilterForm(request.args)
    form.drive.choices = [SelectChoice("", "All drives")] + [
        SelectChoice(row.drive.slug, row.drive.title)
        for row in workspace.chapter_drives(session, g.chapter)
    ]
    slug = request.args.get("drive") or ""
    drive = workspace.drive_of(session, g.chapter, slug) if slug else None  # else 404
    return render_template(
        "organizer/supporters.html",
        form=form,
        view=workspace.supporters(session, g.chapter, page, drive=drive),
    )


# --- Match pledges -----------------------------------------------------------------------------
# An organizer of a chapter in the drive records a sponsor's pledge (for the whole drive, or
# gifts to their own chapter only), changes it before it starts, ends it early or withdraws it
# with a reason. Each change is audited; the public page shows it on its next request (the
# page cache's key holds every column of the drive's pledges).


def _terms(form: MatchPledgeForm) -> matches.PledgeTerms:
    return matches.PledgeTerms(
        sponsor_name=form.sponsor_name.data or "",
        ratio=form.ratio.data or "",
        cap_cents=required(form.cap.cents),
        starts_on=required(form.starts_on.data),
        ends_on=required(form.ends_on.data),
        counts=MatchCounts(form.counts.data),
        chapter_only=bool(form.chapter_only.data),
    )


def _pledge_text(pledge) -> str:
    return (
        f"#{pledge.id} {pledge.sponsor_name}: {matches.ratio_text(pledge)} up to "
        f"{money.format(pledge.cap_cents)}, {pledge.starts_on.isoformat()} to "
        f"{pledge.ends_on.isoformat()}, {pledge.counts.value} gifts"
        + (" of the chapter" if pledge.chapter_id else "")
    )


def _render_matches(session, slug, status=200, *, form=None, error=None, error_at=None):
    drive = workspace.drive_of(session, g.chapter, slug)
    standings = matches.standings(session, drive)
    if form is None:
        form = MatchPledgeForm(formdata=None)
        form.starts_on.data = max(ledger.today(), drive.starts_on)
        form.ends_on.data = drive.ends_on
    return render_template(
        "organizer/matches.html",
        drive=drive,
        standings=standings,
        changeable={s.id for s in standings if s.chapter_slug in (None, g.chapter.slug)},
        form=form,
        withdraw_form=WithdrawPledgeForm(formdata=None),
        error=error,
        error_at=error_at,
    ), status


@bp.get("/<chapter>/drives/<slug>/matches")
@auth.chapter_organizer_required
def match_list(chapter, slug):
    return _render_matches(db.session(), slug)


@bp.post("/<chapter>/drives/<slug>/matches")
@auth.chapter_organizer_required
def match_new(chapter, slug):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    form = MatchPledgeForm()
    if not form.validate():
        return _render_matches(session, slug, 400, form=form, error_at="new")
    try:
        with boundary.attempt():
            pledge = matches.create_pledge(session, g.chapter, drive, _terms(form), current_user)
    except DomainError as failure:
        return _render_matches(
            session, slug, refusal_status(failure), form=form, error=failure.message, error_at="new"
        )
    boundary.audit("match.create", f"drive {drive.slug}: pledge {_pledge_text(pledge)}")
    flash(f"{pledge.sponsor_name}'s pledge is on the drive's page.", "success")
    return redirect(url_for(".match_list", chapter=g.chapter.slug, slug=drive.slug))


@bp.route("/<chapter>/drives/<slug>/matches/<int:pledge_id>", methods=["GET", "POST"])
@auth.chapter_organizer_required
def match_edit(chapter, slug, pledge_id):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    pledge = matches.pledge_of(session, g.chapter, drive, pledge_id)
    if request.method == "POST":
        form = MatchPledgeForm()  # what was sent, alone: a field left out is missing
    else:
        form = MatchPledgeForm(
            formdata=None,
            data={
                "sponsor_name": pledge.sponsor_name,
                "ratio": matches.ratio_text(pledge),
                "cap": workspace.amount_text(pledge.cap_cents),
                "starts_on": pledge.starts_on,
                "ends_on": pledge.ends_on,
                "counts": pledge.counts.value,
                "chapter_only": pledge.chapter_id is not None,
            },
        )
    error, status = None, 200
    if request.method == "POST":
        if form.validate():
            try:
                with boundary.attempt():
                    matches.update_pledge(session, pledge, drive, _terms(form), g.chapter)
            except DomainError as failure:
                error, status = failure.message, refusal_status(failure)
            else:
                boundary.audit("match.edit", f"drive {drive.slug}: pledge {_pledge_text(pledge)}")
                flash("Saved. The drive's page shows the pledge's new terms.", "success")
                return redirect(url_for(".match_list", chapter=g.chapter.slug, slug=drive.slug))
        else:
            status = 400
    return render_template(
        "organizer/match_edit.html", drive=drive, pledge=pledge, form=form, error=error
    ), status


@bp.post("/<chapter>/drives/<slug>/matches/<int:pledge_id>/end")
@auth.chapter_organizer_required
def match_end(chapter, slug, pledge_id):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    pledge = matches.pledge_of(session, g.chapter, drive, pledge_id)
    try:
        with boundary.attempt():
            matches.end_early(session, pledge)
    except DomainError as failure:
        return _render_matches(
            session, slug, refusal_status(failure), error=failure.message, error_at=pledge_id
        )
    boundary.audit("match.end", f"drive {drive.slug}: pledge #{pledge.id} ended early today")
    flash(f"{pledge.sponsor_name}'s pledge ends today: gifts from today still count.", "success")
    return redirect(url_for(".match_list", chapter=g.chapter.slug, slug=drive.slug))


@bp.post("/<chapter>/drives/<slug>/matches/<int:pledge_id>/withdraw")
@auth.chapter_organizer_required
def match_withdraw(chapter, slug, pledge_id):
    session = db.session()
    drive = workspace.drive_of(session, g.chapter, slug)
    pledge = matches.pledge_of(session, g.chapter, drive, pledge_id)
    form = WithdrawPledgeForm()
    if not form.validate():
        return _render_matches(
            session, slug, 400, error="Give the reason the pledge is withdrawn.", error_at=pledge_id
        )
    try:
        with boundary.attempt():
            matches.withdraw(session, pledge, form.reason.data or "")
    except DomainError as failure:
        return _render_matches(
            session, slug, refusal_status(failure), error=failure.message, error_at=pledge_id
        )
    boundary.audit(
        "match.withdraw",
        f"drive {drive.slug}: pledge #{pledge.id} withdrawn — {pledge.withdrawn_reason}",
    )
    flash(f"{pledge.sponsor_name}'s pledge is withdrawn and no longer shown.", "success")
    return redirect(url_for(".match_list", chapter=g.chapter.slug, slug=drive.slug))


# --- Members' pages ----------------------------------------------------------------------------


@bp.get("/<chapter>/members")
@auth.chapter_organizer_required
def members_list(chapter):
    pages = members.chapter_pages(db.session(), g.chapter)
    return render_template("organizer/members.html", pages=pages, error=None), 200


@bp.post("/<chapter>/members/<int:member_id>/approve")
@auth.chapter_organizer_required
def member_approve(chapter, member_id):
    session = db.session()
    try:
        with boundary.attempt():
            page = members.approve(session, g.chapter, member_id, current_user.id, utcnow())
    except DomainError as failure:
        status = refusal_status(failure)
        pages = members.chapter_pages(session, g.chapter)
        return render_template("organizer/members.html", pages=pages, error=failure.message), status
    boundary.audit("member.approve", f"member page #{page.id} ({page.name}) approved")
    flash(f"{page.display_name}'s page is live.")
    return redirect(url_for(".members_list", chapter=g.chapter.slug))


@bp.post("/<chapter>/members/<int:member_id>/hide")
@auth.chapter_organizer_required
def member_hide(chapter, member_id):
    session = db.session()
    try:
        with boundary.attempt():
            page = members.hide(
                session, g.chapter, member_id, request.form.get("reason", "")[:1000], utcnow()
            )
    except DomainError as failure:
        status = refusal_status(failure)
        pages = members.chapter_pages(session, g.chapter)
        return render_template("organizer/members.html", pages=pages, error=failure.message), status
    boundary.audit(
        "member.hide", f"member page #{page.id} ({page.name}) hidden: {page.hidden_reason}"
    )
    flash(f"{page.display_name}'s page is hidden.")
    return redirect(url_for(".members_list", chapter=g.chapter.slug))
