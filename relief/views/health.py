from flask import Blueprint, jsonify
from sqlalchemy import text

from relief import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process answers; touches no database (for load balancers and benchmarks)."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Ready only when the database answers."""
    try:
        with db.engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 — any failure means not ready
        return jsonify(status="database unavailable"), 503
    return jsonify(status="ready")
