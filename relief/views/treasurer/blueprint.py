"""The treasurer's blueprint and what its screens share: the chapter's drives as choices, and
the link to a money form's first record when it was sent again."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, url_for
from wtforms import SelectChoice  # type: ignore[attr-defined]  # not in types-WTForms

from relief.models import FormPurpose
from relief.treasury import scope
from relief.treasury.once import AlreadyRecorded

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


@dataclass(frozen=True)
class FirstRecord:
    """Where a form sent again was recorded the first time: shown as a link by error_box."""

    url: str
    text: str


def first_record(failure: Exception) -> FirstRecord | None:
    """The link to the first record when ``failure`` says the form is recorded already."""
    if not isinstance(failure, AlreadyRecorded) or failure.record_id is None:
        return None
    chapter, record_id = g.chapter.slug, failure.record_id
    match failure.purpose:
        case FormPurpose.DIRECT_GIFT | FormPurpose.CORRECTION:
            return FirstRecord(
                url_for(".gift_page", chapter=chapter, gift_id=record_id), f"Gift #{record_id}"
            )
        case FormPurpose.BATCH | FormPurpose.BATCH_POST:
            return FirstRecord(
                url_for(".batch_page", chapter=chapter, batch_id=record_id),
                f"Batch #{record_id}",
            )
        case FormPurpose.REMITTANCE:
            return FirstRecord(
                url_for(".remittance_list", chapter=chapter, _anchor=f"remittance-{record_id}"),
                f"Remittance #{record_id}",
            )
        case FormPurpose.PARTNER_REPORT:
            return FirstRecord(
                url_for(".partner_report_list", chapter=chapter, _anchor=f"report-{record_id}"),
                f"Report #{record_id}",
            )
    return None
