"""The treasurer's blueprint and what its screens share: the chapter's drives as choices."""

from __future__ import annotations

from flask import Blueprint, g
from wtforms import SelectChoice  # type: ignore[attr-defined]  # (types-WTForms predates 3.3)

from relief.treasury import scope

bp = Blueprint("treasurer", __name__, url_prefix="/treasurer")


@bp.after_request
def no_store(response):
    # Donor names, emails and amounts: no browser or proxy cache keeps these pages.
    response.headers["Cache-Control"] = "no-store"
    return response


def drive_choices(session) -> list[SelectChoice]:
    """The chapter's drives, for a form's drive select."""
    return [
        SelectChoice(str(drive.id), drive.title) for drive in scope.drives_of(session, g.chapter)
    ]
