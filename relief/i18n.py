"""The languages donors read Relief in (Flask-Babel, gettext catalogs).

Donor-facing text is wrapped where it is written: ``{{ _('…') }}`` in templates (new-style
gettext: ``_('Give %(amount)s', amount=…)``), ``gettext``/``lazy_gettext`` from flask_babel
in Python. Treasurer, organizer and admin screens stay English, whatever the browser asks.

A visitor's language is the one they chose with the switcher (the ``lang`` cookie, set only
when they click it), else the first of ours their browser asks for (``Accept-Language``),
else English. The catalogs are the ``.po`` files in ``relief/translations/``, compiled in
memory at start-up: there is no ``.mo`` build step. docs/translations.md has the workflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from io import BytesIO
from pathlib import Path

from babel import support
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import (
    Flask,
    after_this_request,
    has_app_context,
    has_request_context,
    request,
    url_for,
)
from flask.globals import _cv_request
from flask_babel import Babel, Domain, force_locale, get_locale

LANGUAGES = ("en", "es")
DEFAULT = "en"
#: Each language by its own name, as the switcher shows it.
NAMES = {"en": "English", "es": "Español"}
#: The Babel locale money and numbers are formatted in: Spanish as spoken in the United
#: States, so a dollar still reads "$25.00" (es_MX or es would print "USD 25.00" or "US$").
MONEY_LOCALES = {"en": "en_US", "es": "es_US"}
#: The cookie the switcher sets (only when a visitor clicks it: an anonymous page carries
#: no Set-Cookie, so shared caches keep it).
COOKIE = "lang"
#: The blueprints whose screens stay English: the people running drives, not donors.
STAFF_BLUEPRINTS = frozenset({"treasurer", "organizer", "admin", "account", "api", "webhook"})
TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def N_(text: str) -> str:  # noqa: N802 — the name gettext's tools look for
    """Mark ``text`` for the catalog, untranslated: it is translated where it is shown (a
    label built before the page's or receipt's language is known)."""
    return text


def donor_page() -> bool:
    """Whether this request is a donor's (its language follows the visitor)."""
    return has_request_context() and request.blueprint not in STAFF_BLUEPRINTS


def select_locale() -> str:
    """The visitor's language: chosen with the switcher, else the first of ours their browser
    asks for, else English. Staff screens, jobs and the CLI are English."""
    if not donor_page():
        return DEFAULT
    chosen = request.cookies.get(COOKIE)
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def current() -> str:
    """The language being written in now ("en" or "es"): the request's, or the one forced
    by :func:`speaking`; English outside the app."""
    locale = get_locale() if has_app_context() else None
    language = locale.language if locale is not None else DEFAULT
    return language if language in LANGUAGES else DEFAULT


def money_locale() -> str:
    """The Babel locale of the current language for money and numbers."""
    return MONEY_LOCALES[current()]


def known(language: str | None) -> str:
    """``language`` if Relief speaks it, else English (a gift's stored language, a link's)."""
    return language if language in LANGUAGES else DEFAULT


@contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Write in ``language`` inside the block (a donor's email or receipt in the language
    they gave in; the press report in English), whatever the request's is."""
    with force_locale(known(language)):
        yield


@cache
def catalog(language: str) -> support.Translations | support.NullTranslations:
    """The language's catalog, compiled in memory from its .po (once per process); fuzzy
    entries are left out, so an unreviewed translation shows the English."""
    path = TRANSLATIONS / language / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return support.NullTranslations()
    with path.open("rb") as po:
        messages = read_po(po, locale=language)
    compiled = BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return support.Translations(compiled)


class _Catalogs(Domain):
    """Flask-Babel's default domain, reading our compiled-in-memory catalogs."""

    def get_translations(self):
        locale = get_locale()
        return catalog(locale.language) if locale is not None else support.NullTranslations()


class _Babel(Babel):
    """Flask-Babel, with our catalogs as its default domain."""

    @property
    def domain_instance(self):
        return _CATALOGS


_CATALOGS = _Catalogs()


def init_app(app: Flask) -> None:
    _Babel(app, locale_selector=select_locale)
    for language in LANGUAGES:
        catalog(language)  # a broken catalog stops start-up, not a donor's page

    @app.context_processor
    def languages() -> dict:
        _vary_by_language()
        return {"page_language": current, "language_links": _language_links}


def _vary_by_language() -> None:
    """A donor page is written in the visitor's language: caches keep one per language. Said
    by the pages themselves as they are rendered (a template, once per request), so an answer
    that renders none (/healthz, a file, a stored page, which sets its own) pays nothing."""
    ctx = _cv_request.get(None)
    if ctx is None or _VARIED in ctx.request.environ:
        return
    ctx.request.environ[_VARIED] = True
    if ctx.request.blueprint not in STAFF_BLUEPRINTS:
        after_this_request(_add_language_vary)


_VARIED = "relief.i18n.varied"


def _add_language_vary(response):
    # Files (CSS, QR codes, CSVs, a receipt in its gift's language) are the same for all.
    if response.mimetype == "text/html":
        response.vary.add("Accept-Language")
        response.vary.add("Cookie")
    return response


def _language_links() -> list[tuple[str, str, str, bool]]:
    """The switcher on a donor page: (language, its name, the link that chooses it, whether
    it is the page's). Empty on staff screens."""
    if not donor_page():
        return []
    here = current()
    return [
        (code, NAMES[code], url_for("public.language", code=code, next=request.path), code == here)
        for code in LANGUAGES
    ]
