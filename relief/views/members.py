"""Members' own fundraising pages, public side: sign up on a drive, write the page from the
one-time emailed link, and the page itself with its give box (its donate POST is in
views/donate.py). Thin: parse, call relief/members.py, render. The organizer's side
(approve, hide) is in views/organizer.py."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from relief import boundary, db, drive_pages, drives, members, pagecache
from relief.errors import DomainError
from relief.models import email_key, utcnow
from relief.payments import donations
from relief.web import limiter, refusal_status

bp = Blueprint("members", __name__)

#: Sign-ups send email: a member needs a few tries, an inbox flooder gets few.
JOIN_PER_CLIENT = "5 per minute; 20 per hour"
JOIN_PER_ADDRESS = "3 per hour"


def _address_key() -> str:
    return "member-join:" + email_key(request.form.get("email", "")[:320])


def _join_page(slug: str, values: dict, message: str | None = None, error: bool = False):
    session = db.session()
    drive = drives.get_drive(session, slug)
    view = drive_pages.drive_view(session, slug)
    return render_template(
        "members/join.html",
        drive=drive,
        chapters=view.totals.chapters,
        values=values,
        message=message,
        error=error,
    )


@bp.get("/drives/<slug>/p/join")
def join(slug):
    return _join_page(slug, {})


@bp.post("/drives/<slug>/p/join")
@limiter.limit(JOIN_PER_CLIENT)
@limiter.limit(JOIN_PER_ADDRESS, key_func=_address_key)
def join_post(slug):
    values = {
        name: request.form.get(name, "")[:400] for name in ("display_name", "email", "chapter")
    }
    try:
        with boundary.attempt():
            members.sign_up(
                db.session(),
                slug,
                display_name=values["display_name"],
                email=values["email"],
                chapter_slug=values["chapter"],
                secret=str(current_app.config["SECRET_KEY"]),
                now=utcnow(),
            )
    except DomainError as refused:
        return _join_page(slug, values, refused.message, error=True), refusal_status(refused)
    return render_template("members/sent.html", drive=drives.get_drive(db.session(), slug))


@bp.get("/drives/<slug>/p/<name>")
def page(slug, name):
    def build():
        session = db.session()
        found = drive_pages.member_view(session, slug, name)
        resumed = donations.form_values(session, request.args.get("resume"))
        return render_template("drives/member.html", found=found, view=found.view, resumed=resumed)

    return pagecache.page(("member", slug, name, request.scheme, request.host), slug, build)


@bp.get("/members/link/<token>")
def edit(token):
    # Showing the form spends nothing (a mail scanner's GET); saving it uses the link.
    try:
        editing = members.editing(db.session(), token[:200], utcnow())
    except DomainError as refused:
        return render_template("members/expired.html", message=refused.message), 410
    page = editing.page
    values = {
        "name": page.name or "",
        "story": page.story,
        "goal": f"{page.goal_cents / 100:.2f}" if page.goal_cents else "",
    }
    return render_template("members/edit.html", editing=editing, values=values, token=token[:200])


@bp.post("/members/link/<token>")
@limiter.limit(JOIN_PER_CLIENT)
def save(token):
    session = db.session()
    values = {name: request.form.get(name, "")[:4000] for name in ("name", "story", "goal")}
    try:
        editing = members.editing(session, token[:200], utcnow())
    except DomainError as refused:
        return render_template("members/expired.html", message=refused.message), 410
    try:
        with boundary.attempt():
            saved = members.save(
                session,
                token[:200],
                name=values["name"],
                story=values["story"],
                goal=values["goal"],
                now=utcnow(),
            )
    except DomainError as refused:
        return render_template(
            "members/edit.html",
            editing=editing,
            values=values,
            token=token[:200],
            message=refused.message,
        ), refusal_status(refused)
    return render_template("members/saved.html", page=saved, drive=editing.drive)
