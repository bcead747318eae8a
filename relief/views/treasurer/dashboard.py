"""The chapter list, a chapter's dashboard and closing a month."""

from __future__ import annotations

from datetime import date

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from wtforms import SelectChoice  # type: ignore[attr-defined]  # not in types-WTForms

from relief import auth, boundary, db
from relief.errors import DomainError
from relief.payments import webhooks
from relief.reports import monthly
from relief.treasury import dashboard, months
from relief.treasury.forms import ActionForm, MonthCloseForm
from relief.views.treasurer.blueprint import bp
from relief.web import refusal_status


@bp.get("/")
@login_required
def index():
    session = db.session()
    chapters = auth.chapters_of(session, current_user)
    held = webhooks.held_count(session) if current_user.is_admin else 0
    return render_template("treasurer/index.html", chapters=chapters, held_events=held)


@bp.get("/<chapter>/")
@auth.chapter_treasurer_required
def chapter_dashboard(chapter):
    return _render_dashboard(db.session(), month=_month_arg(request.args.get("month")))


def _month_arg(text: str | None) -> date | None:
    """A month asked for in the URL (YYYY-MM or YYYY-MM-DD); None when absent or malformed."""
    try:
        return date.fromisoformat(text if len(text) > 7 else f"{text}-01") if text else None
    except ValueError:
        return None


def _render_dashboard(session, close_form=None, error=None, status=200, month=None):
    view = dashboard.dashboard(session, g.chapter, month)
    if close_form is None:
        close_form = MonthCloseForm(formdata=None)
        if view.checklist is not None:
            close_form.month.data = view.checklist.month.isoformat()
    close_form.month.choices = _month_choices(view.closable_months)
    return render_template(
        "treasurer/dashboard.html",
        view=view,
        sync_form=ActionForm(formdata=None),
        close_form=close_form,
        error=error,
    ), status


def _month_choices(closable) -> list[SelectChoice]:
    return [SelectChoice(m.isoformat(), months.month_label(m)) for m in closable]


@bp.post("/<chapter>/months/close")
@auth.chapter_treasurer_required
def month_close(chapter):
    session = db.session()
    form = MonthCloseForm()
    form.month.choices = _month_choices(months.closable_months(session, g.chapter))
    asked = _month_arg(form.month.data)
    if not form.validate():
        return _render_dashboard(session, form, status=400, month=asked)
    try:
        with boundary.attempt():
            closed = monthly.close(
                session,
                g.chapter,
                date.fromisoformat(form.month.data),
                current_user,
                override_reason=form.override_reason.data,
                org_name=current_app.config["RELIEF_ORG_NAME"],
            )
    except DomainError as failure:
        return _render_dashboard(
            session, form, failure.message, refusal_status(failure), month=asked
        )
    if closed.override_reason:
        boundary.audit(
            "month.close.override",
            f"{closed.label} closed although not reconciled. Reason: "
            f"{closed.override_reason} — Outstanding: "
            + "; ".join(item.sentence for item in closed.checklist.outstanding),
        )
    else:
        boundary.audit("month.close", f"{closed.label} reconciled and closed")
    flash(
        f"{closed.label} is closed. Later corrections dated in it land in the next open month.",
        "success",
    )
    return redirect(url_for(".chapter_dashboard", chapter=g.chapter.slug))
