"""Signing in and out, and the account's own page: its sign-in sessions and password.

Sign-in is limited per client address (all accounts together) by Flask-Limiter, and per
account and address by relief/sign_in_throttle.py, which never holds back the owner's own
address.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from relief import auth, boundary, db, sign_in_sessions
from relief.errors import DomainError
from relief.forms import required
from relief.treasury import audit
from relief.treasury.forms import ActionForm, LoginForm, LogoutForm, PasswordChangeForm
from relief.web import limiter, local_path

bp = Blueprint("account", __name__)

#: Per client address: enough for a household behind one router, not for guessing.
LOGIN_LIMIT_PER_ADDRESS = "20 per minute;100 per hour"


def _safe_next(target: str | None, user) -> str:
    """Only a path on this site: never another host (an open redirect). Without one, the
    user's own workspace (an organizer's, if they only organize)."""
    landing = url_for(auth.landing_endpoint(db.session(), user))
    return local_path(target) or landing


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"])
def login():
    form = LoginForm()
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next"), current_user))
        form.next.data = request.args.get("next", "")
    if not form.validate_on_submit():
        error = "Enter your email and password." if request.method == "POST" else None
        status = 401 if error else 200
        return render_template("treasurer/login.html", form=form, error=error), status
    session_db = db.session()
    address = request.remote_addr or ""
    try:
        user = auth.sign_in(
            session_db,
            required(form.email.data),
            required(form.password.data),
            address,
            request.headers.get("User-Agent", ""),
        )
    except auth.SignInThrottled as refusal:
        page = render_template("treasurer/login.html", form=form, error=refusal.message)
        return page, 429, {"Retry-After": str(refusal.seconds_to_wait)}
    except auth.WrongPassword as refusal:
        # No one is signed in to name: the line names the email tried.
        audit.record(
            session_db,
            audit.Actor(email=(form.email.data or "")[:320], user_id=None, ip=address[:64]),
            "login.failed",
            "wrong email or password",
        )
        # The 401 below rolls the unit back; the refusal and its count are kept now.
        boundary.checkpoint()
        return render_template("treasurer/login.html", form=form, error=refusal.message), 401
    target = _safe_next(form.next.data, user)
    session.clear()  # nothing from before sign-in survives it
    login_user(user)  # the cookie names the new sign-in session, not the account
    boundary.audit("login", "signed in")  # current_user is the account now
    return redirect(target)


@bp.post("/logout")
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.login"))
    if current_user.is_authenticated:
        sign_in_sessions.end_current(db.session(), current_user)
        boundary.audit("logout", "signed out; the session ended")
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("account.login"))


@bp.get("/account/sessions")
@login_required
def sessions():
    return render_template(
        "account/sessions.html",
        lines=sign_in_sessions.sessions_page(db.session(), current_user),
        action_form=ActionForm(formdata=None),
    )


@bp.post("/account/sessions/<int:session_id>/end")
@login_required
def end_session(session_id):
    if not ActionForm().validate():
        abort(400)
    here = sign_in_sessions.current(db.session(), current_user)
    if not sign_in_sessions.end(db.session(), current_user, session_id):
        abort(404)  # not this account's, or already ended: the same answer
    if here is not None and here.id == session_id:
        boundary.audit("session.end", "ended this session (signed out)")
        logout_user()
        session.clear()
        flash("You are signed out.", "info")
        return redirect(url_for("account.login"))
    boundary.audit("session.end", f"ended sign-in session {session_id}")
    flash("That session is ended: it is signed out.", "info")
    return redirect(url_for("account.sessions"))


@bp.post("/account/sessions/end-others")
@login_required
def end_other_sessions():
    if not ActionForm().validate():
        abort(400)
    here = sign_in_sessions.current(db.session(), current_user)
    ended = sign_in_sessions.end_all(
        db.session(), current_user, keep=here.id if here is not None else None
    )
    boundary.audit("session.end_others", f"{ended} other sign-in sessions ended")
    flash(f"Every other session is signed out ({ended}).", "info")
    return redirect(url_for("account.sessions"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    error = None
    if form.validate_on_submit():
        try:
            with boundary.attempt():
                ended = auth.change_password(
                    db.session(),
                    current_user,
                    required(form.current_password.data),
                    required(form.new_password.data),
                )
        except DomainError as refusal:
            error = refusal.message
        else:
            boundary.audit("user.change_password", f"{ended} other sign-in sessions ended")
            flash(f"Your password is changed; every other session is signed out ({ended}).", "info")
            return redirect(url_for("account.sessions"))
    status = 400 if request.method == "POST" else 200
    return render_template("account/password.html", form=form, error=error), status


@bp.app_errorhandler(429)
def too_many_requests(_error):
    message = "Too many attempts from here. Wait a few minutes, then try again."
    return render_template("errors/error.html", message=message, status=429), 429


@bp.app_context_processor
def logout_form():
    # Every signed-in page shows a sign-out button, which posts with a CSRF token.
    return {"logout_form": LogoutForm}
