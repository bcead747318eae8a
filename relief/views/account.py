"""Signing in and out, and the account's own page: its sign-in sessions and password.

Sign-in is limited per client address (all accounts together) by Flask-Limiter, and per
account and address by relief/sign_in_throttle.py, which never holds back the owner's own
address.
"""

from __future__ import annotations

import time

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.globals import _cv_request
from flask_babel import gettext
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from relief import accounts, auth, boundary, db, sign_in_sessions, two_factor
from relief.errors import DomainError
from relief.forms import no_control_characters, required
from relief.models import LinkPurpose, User
from relief.treasury import audit, digest
from relief.treasury.forms import ActionForm, LoginForm, LogoutForm, PasswordChangeForm
from relief.web import csrf, limiter, local_path

bp = Blueprint("account", __name__)

#: Per client address: enough for a household behind one router, not for guessing.
LOGIN_LIMIT_PER_ADDRESS = "20 per minute;100 per hour"
#: Per client address: a person who mistypes asks again; no one floods an inbox from here.
RESET_LIMIT_PER_ADDRESS = "5 per minute;20 per hour"


class ForgotForm(FlaskForm):
    email = EmailField(
        "Your account's email",
        validators=[DataRequired(), Length(max=320), no_control_characters],
        render_kw={"autocomplete": "username"},
    )


#: The Flask session's key for a sign-in waiting for its code, and for how long it waits.
SECOND_STEP = "second_step"
SECOND_STEP_SECONDS = 300
#: The secret being enrolled (shown to its owner anyway, as the QR code).
PENDING_SECRET = "pending_totp_secret"


class CodeForm(FlaskForm):
    code = StringField(
        "Code (6 digits from your app, or a recovery code)",
        validators=[DataRequired(), Length(max=32), no_control_characters],
        render_kw={"autocomplete": "one-time-code", "inputmode": "text"},
    )


class EnrolForm(FlaskForm):
    code = StringField(
        "Code (6 digits from your app)",
        validators=[DataRequired(), Length(max=32), no_control_characters],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class TurnOffForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class NewPasswordForm(FlaskForm):
    new_password = PasswordField(
        f"New password (at least {accounts.MIN_PASSWORD_LENGTH} characters)",
        validators=[DataRequired(), Length(max=accounts.MAX_PASSWORD_LENGTH)],
        render_kw={"autocomplete": "new-password"},
    )
    repeat_password = PasswordField(
        "New password again",
        validators=[
            DataRequired(),
            EqualTo("new_password", message="The two passwords are not the same."),
        ],
        render_kw={"autocomplete": "new-password"},
    )


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
        user = auth.check_password(
            session_db, required(form.email.data), required(form.password.data), address
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
    if user.totp_secret:
        # The password was right; the code comes next, within SECOND_STEP_SECONDS.
        session[SECOND_STEP] = {"user": user.id, "next": target, "at": int(time.time())}
        return redirect(url_for("account.login_code"))
    sign_in_sessions.begin(session_db, user, address, request.headers.get("User-Agent", ""))
    login_user(user)  # the cookie names the new sign-in session, not the account
    boundary.audit("login", "signed in")  # current_user is the account now
    return redirect(target)


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"])
def login_code():
    pending = session.get(SECOND_STEP)
    if not pending or time.time() - pending.get("at", 0) > SECOND_STEP_SECONDS:
        session.pop(SECOND_STEP, None)
        flash("Sign in again: the code is asked right after the password.", "info")
        return redirect(url_for("account.login"))
    form = CodeForm()
    if not form.validate_on_submit():
        error = "Enter the code." if request.method == "POST" else None
        return render_template("account/code.html", form=form, error=error), 401 if error else 200
    session_db = db.session()
    address = request.remote_addr or ""
    try:
        user, used = auth.second_step(
            session_db,
            int(pending["user"]),
            required(form.code.data),
            address,
            request.headers.get("User-Agent", ""),
        )
    except auth.SignInThrottled as refusal:
        page = render_template("account/code.html", form=form, error=refusal.message)
        return page, 429, {"Retry-After": str(refusal.seconds_to_wait)}
    except auth.WrongCode as refusal:
        audit.record(
            session_db,
            audit.Actor.of(session_db.get(User, int(pending["user"])), address),
            "login.failed",
            "wrong second-factor code",
        )
        boundary.checkpoint()  # the count is kept although the answer is a refusal
        return render_template("account/code.html", form=form, error=refusal.message), 401
    target = pending.get("next") or url_for(auth.landing_endpoint(session_db, user))
    session.clear()
    login_user(user)
    boundary.audit("login", f"signed in with a {used}")
    if used == "recovery code":
        left = two_factor.recovery_codes_left(session_db, user)
        flash(f"That recovery code is used up; {left} left.", "info")
    return redirect(target)


@bp.route("/account/two-factor", methods=["GET", "POST"])
@login_required
def two_factor_page():
    """Enrol: scan the QR code, type the code the app shows; the recovery codes are shown
    once, on the answer to that POST."""
    session_db = db.session()
    form = EnrolForm()
    secret = session.get(PENDING_SECRET)
    if request.method == "GET" or not secret:
        secret = two_factor.new_secret()
        session[PENDING_SECRET] = secret
    error = None
    if request.method == "POST" and form.validate_on_submit():
        try:
            with boundary.attempt():
                codes = two_factor.enrol(session_db, current_user, secret, required(form.code.data))
        except DomainError as refusal:
            error = refusal.message
        else:
            session.pop(PENDING_SECRET, None)
            boundary.audit("user.two_factor", "two-factor sign-in on; 10 new recovery codes")
            return render_template("account/two_factor.html", codes=codes, form=None)
    elif request.method == "POST":
        error = "Enter the 6-digit code your app shows."
    return _two_factor_page(form, secret, error)


def _two_factor_page(form, secret, error=None, off_form=None, off_error=None):
    session_db = db.session()
    return render_template(
        "account/two_factor.html",
        form=form,
        codes=None,
        secret=secret,
        qr=two_factor.qr_svg(secret, current_user.email, current_app.config["RELIEF_ORG_NAME"]),
        enrolled=bool(current_user.totp_secret),
        left=two_factor.recovery_codes_left(session_db, current_user),
        must_keep=_two_factor_binds(current_user),
        off_form=off_form or TurnOffForm(formdata=None),
        error=error,
        off_error=off_error,
    ), 400 if error or off_error else 200


def _two_factor_binds(user) -> bool:
    return bool(current_app.config.get("RELIEF_REQUIRE_2FA")) and two_factor.required_for(
        db.session(), user
    )


@bp.post("/account/two-factor/off")
@login_required
def two_factor_off():
    """Turn one's own two-factor sign-in off, with one's password (where it is not required).
    A wrong password is counted and slowed like one at sign-in."""
    form = TurnOffForm()
    if not current_user.totp_secret:
        return redirect(url_for("account.two_factor_page"))
    session_db = db.session()
    if form.validate_on_submit():
        try:
            auth.check_password(
                session_db,
                current_user.email,
                required(form.password.data),
                request.remote_addr or "",
            )
            with boundary.attempt():
                accounts.turn_off_own_two_factor(
                    session_db, current_user, required=_two_factor_binds(current_user)
                )
        except auth.WrongPassword:
            boundary.checkpoint()  # the count is kept although the answer is a refusal
            error = "Your password is not right."
        except DomainError as refusal:
            error = refusal.message
        else:
            boundary.audit("user.two_factor_off", "turned off by the person, with their password")
            flash("Two-factor sign-in is off: sign-in asks your password only.", "info")
            return redirect(url_for("account.two_factor_page"))
    else:
        error = "Type your password to turn two-factor sign-in off."
    secret = two_factor.new_secret()
    session[PENDING_SECRET] = secret
    return _two_factor_page(EnrolForm(formdata=None), secret, off_form=form, off_error=error)


#: Pages a person who must enrol may still open, and the pages of a signed-out person (a
#: forgotten password, an invitation, a reset link, the digest's unsubscribe link), which ask
#: nothing of whoever is signed in. Those are rate-limited: the check must not load the user
#: first, for on SQLite that begins the POST's writer unit and the limiter's own connection
#: would then wait for it (a 503 after the busy timeout).
ENROL_ALLOWED = {
    "account.two_factor_page",
    "account.logout",
    "static",
    "account.forgot_password",
    "account.accept_invitation",
    "account.reset_password",
    "account.digest_stop",
}


def two_factor_required():
    """With RELIEF_REQUIRE_2FA, a treasurer or admin without two-factor sign-in enrols
    before anything else (they are signed in with the password this once). Runs before the
    staff blueprints' views only (``views.register_blueprints``): public pages never pay."""
    # Signing in and out (/login, /logout) are the account blueprint's too, and never guarded.
    if not _cv_request.get().request.path.startswith(
        ("/treasurer", "/admin", "/organize", "/account")
    ):
        return None
    if not current_app.config.get("RELIEF_REQUIRE_2FA") or request.endpoint in ENROL_ALLOWED:
        return None
    if not current_user.is_authenticated or current_user.totp_secret:
        return None
    if not two_factor.required_for(db.session(), current_user):
        return None
    flash(
        "Your coalition requires two-factor sign-in for treasurers and admins: set it up now.",
        "info",
    )
    return redirect(url_for("account.two_factor_page"))


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


@bp.route("/account/forgot", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT_PER_ADDRESS, methods=["POST"])
def forgot_password():
    form = ForgotForm()
    if form.validate_on_submit():
        # The same answer whether or not an account has the address: the page tells no one
        # which addresses have accounts.
        accounts.request_reset(
            db.session(), current_app.config["SECRET_KEY"], required(form.email.data)
        )
        return render_template("account/forgot.html", form=form, sent=True)
    error = "Enter an email address." if request.method == "POST" else None
    status = 400 if error else 200
    return render_template("account/forgot.html", form=form, sent=False, error=error), status


_CHOOSE_PAGE = "account/choose_password.html"
_CHOOSE_PASSWORD = {
    LinkPurpose.INVITATION: {
        "title": "Welcome: choose your password",
        "lede": "Choose the password you will sign in with",
        "button": "Set my password and sign in",
    },
    LinkPurpose.RESET: {
        "title": "Choose a new password",
        "lede": "Every browser signed in to this account is signed out",
        "button": "Change my password and sign in",
    },
}


def _set_password_through(purpose: LinkPurpose, token: str):
    """The page a one-time link opens: choose a password, then be signed in."""
    wording = _CHOOSE_PASSWORD[purpose]
    form = NewPasswordForm()
    session_db = db.session()
    try:
        _link, user = accounts.open_link(session_db, token, purpose)
    except accounts.LinkRefused as refusal:
        return render_template(_CHOOSE_PAGE, wording=wording, form=None, error=refusal.message), 410
    error = None
    if form.validate_on_submit():
        try:
            with boundary.attempt():
                user, ended = accounts.use_link(
                    session_db, token, purpose, required(form.new_password.data)
                )
        except DomainError as refusal:
            error = refusal.message
        else:
            if user.totp_secret:
                # An emailed link is one factor: the code is still asked.
                session.clear()
                landing = url_for(auth.landing_endpoint(session_db, user))
                session[SECOND_STEP] = {"user": user.id, "next": landing, "at": int(time.time())}
                audit.record(
                    session_db,
                    audit.Actor.of(user, request.remote_addr),
                    "user.reset_password",
                    f"{user.email}: by emailed link; {ended} sessions ended",
                )
                flash("Your password is changed. Now the code from your app.", "info")
                return redirect(url_for("account.login_code"))
            sign_in_sessions.begin(
                session_db, user, request.remote_addr or "", request.headers.get("User-Agent", "")
            )
            session.clear()
            login_user(user)
            if purpose == LinkPurpose.INVITATION:
                boundary.audit("user.accept_invitation", f"{user.email}: password set, signed in")
                flash("Your password is set: you are signed in.", "info")
            else:
                boundary.audit(
                    "user.reset_password", f"{user.email}: by emailed link; {ended} sessions ended"
                )
                flash(f"Your password is changed; {ended} other sessions are signed out.", "info")
            return redirect(url_for(auth.landing_endpoint(session_db, user)))
    elif request.method == "POST":
        error = (
            " ".join(message for messages in form.errors.values() for message in messages)
            or "Enter the new password twice."
        )
    status = 400 if request.method == "POST" else 200
    page = render_template(_CHOOSE_PAGE, wording=wording, form=form, error=error, email=user.email)
    return page, status


@bp.route("/account/welcome/<token>", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT_PER_ADDRESS, methods=["POST"])
def accept_invitation(token):
    return _set_password_through(LinkPurpose.INVITATION, token)


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
@limiter.limit(RESET_LIMIT_PER_ADDRESS, methods=["POST"])
def reset_password(token):
    return _set_password_through(LinkPurpose.RESET, token)


@bp.app_errorhandler(429)
def too_many_requests(_error):
    # A donor's page (the card-testing limit) is in the donor's language.
    message = gettext("Too many attempts from here. Wait a few minutes, then try again.")
    return render_template("errors/error.html", message=message, status=429), 429


@bp.app_context_processor
def logout_form():
    # Every signed-in page shows a sign-out button, which posts with a CSRF token.
    return {"logout_form": LogoutForm}


class DigestForm(FlaskForm):
    digest = BooleanField("Email me each morning what needs attention in my chapters")


@bp.route("/account/digest", methods=["GET", "POST"])
@login_required
def digest_choice():
    """Ask for the daily digest, or stop it."""
    form = DigestForm(data={"digest": current_user.digest} if request.method == "GET" else None)
    if form.validate_on_submit():
        wanted = bool(form.digest.data)
        if digest.set_choice(db.session(), current_user, wanted):
            boundary.audit("user.digest", "asked for the daily digest" if wanted else "stopped it")
        flash(
            "You will get the digest each morning when something needs attention."
            if wanted
            else "No more digest emails.",
            "info",
        )
        return redirect(url_for("account.digest_choice"))
    hour = current_app.config.get("RELIEF_DIGEST_HOUR", digest.DEFAULT_HOUR)
    return render_template("account/digest.html", form=form, hour=hour)


@bp.route("/account/digest/stop/<token>", methods=["GET", "POST"])
@csrf.exempt  # the signed token in the link is the authority: mail clients post it in one click
def digest_stop(token):
    """The digest's unsubscribe link (RFC 8058): a page with a button, or one click from the
    mail client (a POST). Works without signing in; it can only stop the digest."""
    session_db = db.session()
    user = digest.reader_of(session_db, current_app.config["SECRET_KEY"], token)
    if user is None:
        abort(404)
    if request.method == "POST":
        if digest.set_choice(session_db, user, False):
            audit.record(
                session_db,
                audit.Actor(email=user.email, user_id=user.id, ip=(request.remote_addr or "")[:64]),
                "user.digest",
                "stopped it from the email's link",
            )
        return render_template("account/digest_stopped.html", stopped=True)
    return render_template("account/digest_stopped.html", stopped=False, email=user.email)
