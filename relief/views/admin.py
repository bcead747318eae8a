"""Coalition admin screens: the audit log."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from relief import auth, db
from relief.treasury import audit

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE = 200


@bp.after_request
def no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/audit")
@auth.admin_required
def audit_log():
    before = request.args.get("before", type=int)
    lines = audit.recent(db.session(), limit=PAGE, before_id=before)
    return render_template("admin/audit.html", lines=lines, page_size=PAGE)
