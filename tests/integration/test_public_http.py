"""Public pages served like static files (issue 18): no cookie for an anonymous visitor, a
strong ETag from the drive's state, 304 without building anything, compressed answers; and a
request pays only for what it uses (rate limits checked only where a route has them)."""

from __future__ import annotations

import pytest
from flask_limiter import Limiter

from tests.conftest import make_app
from tests.treasury_helpers import PASSWORD, csrf_token


@pytest.fixture
def limit_checks(monkeypatch):
    """How many times Flask-Limiter looked for limits to check, per request."""
    calls = []
    original = Limiter._check_request_limit

    def counted(self, *args, **kwargs):
        calls.append(kwargs.get("callable_name"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Limiter, "_check_request_limit", counted)
    return calls


def test_rate_limits_are_checked_only_on_routes_that_have_them(database_url, limit_checks):
    app = make_app(database_url)
    client = app.test_client()
    for path in ("/healthz", "/", "/drives/nowhere", "/api/drives/nowhere"):
        client.get(path)
    assert limit_checks == []  # was one look per request, limits or not

    token = csrf_token(client)
    limit_checks.clear()  # (the sign-in page's GET is its limited route's too)
    statuses = [  # a new address each time: only the per-client limit applies
        client.post(
            "/login", data={"csrf_token": token, "email": f"x{i}@example.org", "password": PASSWORD}
        ).status_code
        for i in range(21)
    ]
    assert len(limit_checks) == 21  # the sign-in route has its limit, and checks it
    assert statuses[-1] == 429 and 429 not in statuses[:20]
    app.extensions["relief.engine"].dispose()
