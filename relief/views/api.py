"""The public JSON API: the same figures as the pages, from the same code."""

from flask import Blueprint, jsonify

from relief import db, drives, presenters

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.get("/drives/<slug>")
def drive(slug):
    return jsonify(presenters.drive_json(drives.drive_view(db.session(), slug)))
