"""The treasurer's blueprint and what its screens share: the audit line, the chapter's drives
as choices, and the status a refused POST answers with."""

from __future__ import annotations

from flask import Blueprint, g, request
from flask_login import current_user
from wtforms import SelectChoice

from relief.errors import DomainError, NotFound
from relief.treasury import audit, scope

bp = Blueprint("treasurer", __name__, url_prefix="/treasurer")


@bp.after_request
def no_store(response):
    # Donor names, emails and amounts: no browser or proxy cache keeps these pages.
    response.headers["Cache-Control"] = "no-store"
    return response


def record_audit(session, action: str, detail: str) -> None:
    """The audit line of this request: who (the signed-in user, their address), in g.chapter."""
    audit.record(
        session, audit.Actor.of(current_user, request.remote_addr), action, detail, g.chapter
    )


def drive_choices(session) -> list[SelectChoice]:
    """The chapter's drives, for a form's drive select."""
    return [
        SelectChoice(str(drive.id), drive.title) for drive in scope.drives_of(session, g.chapter)
    ]


def failed(error: DomainError) -> int:
    """The status to answer a refused POST with; a 404 is not shown inline but raised."""
    if isinstance(error, NotFound):
        raise error
    return error.status_code
