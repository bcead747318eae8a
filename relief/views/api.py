"""The public JSON API: the same figures as the pages, from the same code."""

from flask import Blueprint

from relief import db, drive_pages, pagecache, presenters

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/drives/<slug>")
def drive(slug):
    return pagecache.json(
        ("api", slug),
        slug,
        lambda: presenters.drive_json(drive_pages.drive_view(db.session(), slug)),
    )
