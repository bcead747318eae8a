"""The public JSON API: the same figures as the pages, from the same code."""

from flask import Blueprint, jsonify, url_for

from relief import db, drive_pages, pagecache, presenters, public_ledger, web

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/drives/<slug>")
def drive(slug):
    return pagecache.json(
        ("api", slug),
        slug,
        lambda: presenters.drive_json(drive_pages.drive_view(db.session(), slug)),
    )


@bp.get("/drives/<slug>/entries")
def entries(slug):
    """The drive's public ledger, a page at a time: ``?after=<entry id>&limit=<1 to 1000>``."""
    after = web.whole_number_arg("after")
    limit = web.whole_number_arg("limit", most=public_ledger.MOST_PER_PAGE)
    page = public_ledger.page(db.session(), slug, after, limit)
    following = None
    if page.next_after is not None:
        following = url_for("api.entries", slug=page.drive.slug, after=page.next_after, limit=limit)
    return jsonify(
        drive=page.drive.slug,
        currency=page.drive.currency,
        entries=[entry.as_dict() for entry in page.entries],
        next_after=page.next_after,
        next=following,
    )
