"""Accounts, roles and the per-chapter access guard.

Services (``add_user``, ``authenticate``, ...) take a session and never touch Flask's request;
the guard decorators at the bottom are the web's one way into a chapter's treasury:

- :func:`chapter_treasurer_required` loads ``g.chapter`` from the URL's ``<chapter>`` and answers
  404 — the same page as a chapter that does not exist — unless the signed-in user is that
  chapter's treasurer or a coalition admin. Anything reached *inside* a chapter (a batch, a gift,
  a remittance) is then loaded through :mod:`relief.treasury.scope`, so an id of another
  chapter's object is a 404 too.
- :func:`chapter_organizer_required` does the same for the chapter's organizers (/organize):
  drives and pages, never the treasury; a treasurer gets 404 there, an organizer 404 here.
- :func:`admin_required` guards /admin.

A page any signed-in user may see (the chapter lists) takes Flask-Login's own
``flask_login.login_required``; every guard sends a visitor who is not signed in the same way,
through ``login_manager.unauthorized()``: to /login?next=<the page asked for>.

Who is signed in comes from a server-side sign-in session (:mod:`relief.sign_in_sessions`):
the cookie names it, signing out ends it. Passwords are checked through :func:`sign_in`, slowed
per account and address (:mod:`relief.sign_in_throttle`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from flask import Flask, abort, g, redirect, request, url_for
from flask.globals import _cv_request
from flask_login import LoginManager, current_user
from sqlmodel import Session, col, select
from werkzeug.security import check_password_hash, generate_password_hash

from relief import drives, sign_in_sessions, sign_in_throttle, two_factor
from relief.accounts import hash_password, set_role
from relief.accounts import normal_email as _normal_email
from relief.errors import DomainError, InvalidInput, NotFound
from relief.models import Chapter, Membership, Role, User, present, utcnow

#: Checked against when the email is unknown, so a wrong email takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("relief-dummy-password", method="scrypt")

login_manager = LoginManager()
login_manager.login_view = "account.login"
# Flask-Login's "strong" protection hashes the raw X-Forwarded-For header, which any client
# can send. A sign-in session is bound instead to the address the app sees (the socket's, or a
# trusted proxy's view with RELIEF_TRUSTED_PROXIES) and the browser: sign_in_sessions.load.
login_manager.session_protection = None


def find_user(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == (email or "").strip().lower())).first()


def add_user(
    session: Session,
    email: str,
    password: str | None,
    *,
    chapter_slug: str | None = None,
    role: Role | None = None,
    admin: bool = False,
) -> User:
    """Create an account (or give an existing one a role in another chapter); flushes.

    ``password`` is needed only for a new or removed account.
    """
    email = _normal_email(email)
    if chapter_slug and role is None:
        raise InvalidInput("Give the role in the chapter: --role treasurer or --role organizer.")
    if not chapter_slug and not admin:
        raise InvalidInput("Give a chapter (--chapter SLUG --role ROLE) or --admin.")
    chapter = drives.get_chapter(session, chapter_slug) if chapter_slug else None
    user = find_user(session, email)
    if user is None or user.removed_at is not None:
        if password is None:
            raise InvalidInput("A new account needs a password.")
        if user is None:
            user = User(email=email, password_hash=hash_password(password))
            session.add(user)
        else:
            reset_password(session, email, password)
            user.removed_at = None
    user.is_admin = user.is_admin or admin
    session.flush()
    if chapter is not None:
        assert role is not None, "checked above: a chapter comes with a role"
        set_role(session, user, chapter.slug, role.value)  # the admin screen's rule too
    return user


def reset_password(session: Session, email: str, password: str) -> tuple[User, int]:
    """A new password; every sign-in session of the account ends. Returns the account and how
    many sessions ended."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"There is no account for {email[:80]}.")
    user.password_hash = hash_password(password)
    ended = sign_in_sessions.end_all(session, user)
    session.flush()
    return user, ended


def change_password(session: Session, user: User, current_password: str, new_password: str) -> int:
    """The signed-in user's new password, if ``current_password`` is theirs; every other
    sign-in session of the account ends (how many is returned), this one stays."""
    if not check_password_hash(user.password_hash, current_password or ""):
        raise InvalidInput("Your current password is not right.")
    user.password_hash = hash_password(new_password)
    keep = sign_in_sessions.current(session, user)
    return sign_in_sessions.end_all(session, user, keep=keep.id if keep else None)


def sign_out_everywhere(session: Session, email: str) -> tuple[User, int]:
    """An admin ends every sign-in session of the account (``flask user sign-out``)."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"There is no account for {email[:80]}.")
    return user, sign_in_sessions.end_all(session, user)


def remove_user(session: Session, email: str) -> User:
    """The account can no longer sign in and loses its roles; what it recorded stays."""
    user = find_user(session, email)
    if user is None or user.removed_at is not None:
        raise NotFound(f"There is no account for {email[:80]}.")
    for membership in session.exec(select(Membership).where(Membership.user_id == user.id)):
        session.delete(membership)
    user.removed_at = utcnow()
    user.is_admin = False
    sign_in_sessions.end_all(session, user)
    user.password_hash = "!"  # matches no password
    session.flush()
    return user


def accounts(session: Session) -> list[tuple[User, list[tuple[str, str]]]]:
    """Every account with its (chapter slug, role) pairs, by email."""
    roles: dict[int, list[tuple[str, str]]] = {}
    for membership, slug in session.exec(
        select(Membership, Chapter.slug)
        .join(Chapter, col(Chapter.id) == Membership.chapter_id)
        .order_by(Chapter.slug)
    ):
        roles.setdefault(membership.user_id, []).append((slug, membership.role.value))
    return [
        (user, roles.get(present(user.id), []))
        for user in session.exec(select(User).order_by(User.email))
    ]


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active account with this email and password, else None (in the same time)."""
    user = find_user(session, email)
    if user is None or user.removed_at is not None:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not check_password_hash(user.password_hash, password or ""):
        return None
    return user


class CountedRefusal(DomainError):
    """A wrong secret whose failure is counted: the sentence, then how long to wait, if at all."""

    status_code = 401
    sentence = ""

    def __init__(self, seconds_to_wait: int):
        message = self.sentence
        if seconds_to_wait:
            message += f" Wait {_in_words(seconds_to_wait)} before trying again from here."
        super().__init__(message)
        self.seconds_to_wait = seconds_to_wait


class WrongPassword(CountedRefusal):
    """The email and password do not match an account."""

    sentence = "That email and password do not match an account."


class SignInThrottled(DomainError):
    """This address has been failing for this account: its password was not even checked."""

    status_code = 429

    def __init__(self, seconds_to_wait: int, what: str = "passwords"):
        super().__init__(
            f"Too many wrong {what} for this account from here. "
            f"Try again in {_in_words(seconds_to_wait)}."
        )
        self.seconds_to_wait = seconds_to_wait


def _in_words(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{math.ceil(seconds / 60)} minutes"


def check_password(session: Session, email: str, password: str, address: str) -> User:
    """The account for this email and password. An address that has been failing for the
    account is refused before the password is checked (:class:`SignInThrottled`, so a refusal
    tells nothing about the password); a wrong password is counted and raises
    :class:`WrongPassword` — the caller keeps the count although the answer is a refusal.
    No one is signed in yet: see :func:`sign_in` and :func:`second_step`."""
    wait = sign_in_throttle.seconds_to_wait(session, email, address)
    if wait:
        raise SignInThrottled(wait)
    user = authenticate(session, email, password)
    if user is None:
        raise WrongPassword(sign_in_throttle.record_failure(session, email, address))
    sign_in_throttle.forget(session, email, address)
    return user


def sign_in(session: Session, email: str, password: str, address: str, user_agent: str) -> User:
    """:func:`check_password`, then a new sign-in session for this browser
    (``user.sign_in_token`` is its token) — for an account without two-factor sign-in."""
    user = check_password(session, email, password, address)
    sign_in_sessions.begin(session, user, address, user_agent)
    return user


class WrongCode(CountedRefusal):
    """The second factor is not right; counted like a wrong password."""

    sentence = "That code is not right (or was already used)."


def _code_key(user: User) -> str:
    # Counted apart from the password's failures, by the same throttle.
    return f"second-factor:{user.email}"


def second_step(
    session: Session, user_id: int, code: str, address: str, user_agent: str
) -> tuple[User, str]:
    """Sign in an account whose password was right with its TOTP or a recovery code: a new
    sign-in session. Wrong codes wait like wrong passwords (:class:`SignInThrottled` before
    the code is checked, :class:`WrongCode` counted). Returns the account and what was used."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or not user.totp_secret:
        raise NotFound("Sign in again.")
    wait = sign_in_throttle.seconds_to_wait(session, _code_key(user), address)
    if wait:
        raise SignInThrottled(wait, "codes")
    used = two_factor.check(session, user, code)
    if used is None:
        raise WrongCode(sign_in_throttle.record_failure(session, _code_key(user), address))
    sign_in_throttle.forget(session, _code_key(user), address)
    sign_in_sessions.begin(session, user, address, user_agent)
    return user, used


@dataclass(frozen=True)
class ChapterAccess:
    chapter: Chapter
    role: str  # "treasurer", "organizer" or "admin"


def _chapters_with_role(session: Session, user: User, role: Role) -> list[ChapterAccess]:
    if user.is_admin:
        return [
            ChapterAccess(chapter, "admin")
            for chapter in session.exec(select(Chapter).order_by(Chapter.name))
        ]
    rows = session.exec(
        select(Chapter, Membership.role)
        .join(Membership, col(Membership.chapter_id) == Chapter.id)
        .where(Membership.user_id == user.id, Membership.role == role)
        .order_by(Chapter.name)
    ).all()
    return [ChapterAccess(chapter, Role(found).value) for chapter, found in rows]


def chapters_of(session: Session, user: User) -> list[ChapterAccess]:
    """The chapters whose treasury this user may open (admins: all), by name."""
    return _chapters_with_role(session, user, Role.TREASURER)


def chapters_organized(session: Session, user: User) -> list[ChapterAccess]:
    """The chapters whose drives and pages this user may manage (admins: all), by name."""
    return _chapters_with_role(session, user, Role.ORGANIZER)


def _chapter_with_role(session: Session, user: User, slug: str, role: Role) -> Chapter | None:
    chapter = session.exec(select(Chapter).where(Chapter.slug == slug)).first()
    if chapter is None:
        return None
    if user.is_admin:
        return chapter
    membership = session.get(Membership, (user.id, chapter.id))
    if membership is None or membership.role != role:
        return None
    return chapter


def treasury_chapter(session: Session, user: User, slug: str) -> Chapter | None:
    """The chapter with this slug if ``user`` may open its treasury; None otherwise — the caller
    answers 404 whether the chapter is someone else's or does not exist."""
    return _chapter_with_role(session, user, slug, Role.TREASURER)


def organizing_chapter(session: Session, user: User, slug: str) -> Chapter | None:
    """The chapter with this slug if ``user`` is its organizer (or an admin); None otherwise,
    answered with the same 404 as a chapter that does not exist."""
    return _chapter_with_role(session, user, slug, Role.ORGANIZER)


def landing_endpoint(session: Session, user: User) -> str:
    """Where sign-in leads: the treasury for admins and treasurers, the organizer's workspace
    for someone who only organizes (an empty treasurer's list would be no use to them)."""
    if user.is_admin or chapters_of(session, user):
        return "treasurer.index"
    if chapters_organized(session, user):
        return "organizer.index"
    return "treasurer.index"


# --- The web's guards -------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    from relief import boundary, db

    # No "remember me" is offered; if it ever is, its cookie gets the session cookie's flags.
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])
    app.config.setdefault("REMEMBER_COOKIE_HTTPONLY", True)
    login_manager.init_app(app)
    # Flask-Login looks at the session after every request for its "remember me" cookie, which
    # is never offered (REMEMBER_COOKIE_REFRESH_EACH_REQUEST is never set, session protection
    # is off): only signing in or out (the account blueprint, login_user/logout_user) can
    # leave it anything to do, and only for a request that brought a cookie. (Asked through
    # ``session``, Flask would mark the session read and add "Vary: Cookie" to every answer.)
    remember = app.after_request_funcs[None].pop()
    app.after_request_funcs.setdefault("account", []).append(
        lambda response: (
            remember(response) if "HTTP_COOKIE" in _cv_request.get().request.environ else response
        )
    )

    @login_manager.user_loader
    def load_user(token: str):
        found = sign_in_sessions.load(
            db.session(), token, request.remote_addr or "", request.headers.get("User-Agent", "")
        )
        if found is None:
            return None
        user, sign_in_session = found
        if sign_in_sessions.needs_touch(sign_in_session):
            engine, session_id = db.engine(), present(sign_in_session.id)
            boundary.after_commit(lambda: sign_in_sessions.touch(engine, session_id))
        return user

    @login_manager.unauthorized_handler
    def to_sign_in():
        # Flask-Login's own redirect would flash a message and write ?next= with %2F for
        # each slash; this keeps the sign-in link as it always was: /login?next=/treasurer/….
        return redirect(url_for(login_manager.login_view, next=request.full_path.rstrip("?")))


def _chapter_guard(view, chapter_for):
    @functools.wraps(view)
    def guarded(*args, **kwargs):
        from relief import db

        # A state-changing request is already a writer unit (boundary): its first read here
        # takes the write lock.
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        chapter = chapter_for(db.session(), current_user, kwargs.get("chapter", ""))
        if chapter is None:
            abort(404)
        g.chapter = chapter
        return view(*args, **kwargs)

    return guarded


def chapter_treasurer_required(view):
    """Sign-in required; ``g.chapter`` is the URL's chapter if the user is its treasurer (or an
    admin); any other case is the same 404 as a chapter that does not exist."""
    return _chapter_guard(view, treasury_chapter)


def chapter_organizer_required(view):
    """Sign-in required; ``g.chapter`` is the URL's chapter if the user is its organizer (or an
    admin); a treasurer of it, another chapter's organizer or a missing chapter: the same 404."""
    return _chapter_guard(view, organizing_chapter)


def admin_required(view):
    """Sign-in required; 404 for anyone but a coalition admin."""

    @functools.wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(404)
        return view(*args, **kwargs)

    return guarded
