"""The languages donors read Relief in (Flask-Babel, gettext catalogs).

Donor-facing text is wrapped where it is written: ``{{ _('…') }}`` in templates (new-style
gettext: ``_('Give %(amount)s', amount=…)``), ``gettext``/``lazy_gettext`` from flask_babel
in Python. Treasurer and admin screens stay English. Until a language has a catalog, its
visitors read English: a missing catalog or message falls back to the text as written.
"""

from flask import Flask, has_request_context, request
from flask_babel import Babel

LANGUAGES = ("en", "es")
DEFAULT = "en"


def select_locale() -> str:
    """The visitor's language: the first of ours their browser asks for, else English."""
    if not has_request_context():
        return DEFAULT
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def init_app(app: Flask) -> None:
    Babel(app, locale_selector=select_locale)
