"""Signing in and out. Sign-in is throttled per address and per account."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from relief import auth, boundary, db
from relief.treasury import audit
from relief.treasury.forms import LoginForm, LogoutForm
from relief.web import limiter, local_path

bp = Blueprint("account", __name__)

#: Per client address: enough for a household behind one router, not for guessing.
LOGIN_LIMIT_PER_ADDRESS = "20 per minute;100 per hour"
#: Per account named: a slow guesser gets 10 tries an hour, whatever address they use.
LOGIN_LIMIT_PER_ACCOUNT = "5 per minute;10 per hour"


def _account_key() -> str:
    return "login-account:" + (request.form.get("email") or "").strip().lower()[:320]


def _safe_next(target: str | None, user) -> str:
    """Only a path on this site: never another host (an open redirect). Without one, the
    user's own workspace (an organizer's, if they only organize)."""
    landing = url_for(auth.landing_endpoint(db.session(), user))
    return local_path(target) or landing


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"])
@limiter.limit(LOGIN_LIMIT_PER_ACCOUNT, methods=["POST"], key_func=_account_key)
def login():
    form = LoginForm()
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(_safe_next(request.args.get("next"), current_user))
        form.next.data = request.args.get("next", "")
    error = None
    if form.validate_on_submit():
        session_db = db.session()
        user = auth.authenticate(session_db, form.email.data, form.password.data)
        if user is not None:
            target = _safe_next(form.next.data, user)
            session.clear()  # nothing from before sign-in survives it
            login_user(user)
            boundary.audit("login", "signed in")  # current_user is the account now
            return redirect(target)
        # No one is signed in to name: the line names the email tried.
        audit.record(
            session_db,
            audit.Actor(
                email=(form.email.data or "")[:320], user_id=None, ip=request.remote_addr or ""
            ),
            "login.failed",
            "wrong email or password",
        )
        # The 401 below rolls the unit back; a refused sign-in is still recorded: keep it now.
        boundary.checkpoint()
        error = "That email and password do not match an account."
    elif request.method == "POST":
        error = "Enter your email and password."
    status = 401 if error else 200
    return render_template("treasurer/login.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    form = LogoutForm()
    if not form.validate_on_submit():
        return redirect(url_for("account.login"))
    if current_user.is_authenticated:
        boundary.audit("logout", "signed out")
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("account.login"))


@bp.app_errorhandler(429)
def too_many_requests(_error):
    message = "Too many attempts from here. Wait a few minutes, then try again."
    return render_template("errors/error.html", message=message, status=429), 429


@bp.app_context_processor
def logout_form():
    # Every signed-in page shows a sign-out button, which posts with a CSRF token.
    return {"logout_form": LogoutForm}
