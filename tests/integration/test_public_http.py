"""Public pages served like static files (issue 18): no cookie for an anonymous visitor, a
strong ETag from the drive's state, 304 without building anything, compressed answers; and a
request pays only for what it uses (rate limits checked only where a route has them)."""

from __future__ import annotations

import gzip
import http.client
import re
import threading

import brotli
import pytest
from flask_limiter import Limiter
from sqlmodel import select
from werkzeug.serving import make_server

from relief import drive_pages, ledger, privacy
from relief.models import Drive, EntryKind
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import PASSWORD, SignedIn, csrf_token, data, make_user


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
    make_app(database_url, RATELIMIT_ENABLED=False).extensions["relief.engine"].dispose()  # first
    app = make_app(database_url)
    client = app.test_client()
    for path in ("/healthz", "/", "/drives/nowhere", "/api/drives/nowhere"):
        client.get(path)
    assert limit_checks == []  # was one look per request, limits or not

    token = csrf_token(client)
    limit_checks.clear()  # (the sign-in page's GET is its limited route's too)
    statuses = []  # a new address each time: only the per-client limit applies
    while 429 not in statuses and len(statuses) < 41:  # 20 a minute (a window may roll over)
        email = f"x{len(statuses)}@example.org"
        answer = client.post(
            "/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
        )
        statuses.append(answer.status_code)
    assert len(limit_checks) == len(statuses)  # the sign-in route has its limit, and checks it
    assert statuses[-1] == 429 and 429 not in statuses[:20]
    app.extensions["relief.engine"].dispose()


PUBLIC_PAGES = ("/", "/drives/mo-2026", "/drives/mo-2026/st-louis", "/api/drives/mo-2026")


def test_an_anonymous_visitor_gets_every_public_page_without_a_cookie(session, client):
    make_coalition(session)
    for path in PUBLIC_PAGES:
        for _ in range(2):  # built, then from the cache
            response = client.get(path)
            assert response.status_code == 200, path
            assert "Set-Cookie" not in response.headers, path
            assert response.headers["Cache-Control"] == (
                "public, max-age=5, stale-while-revalidate=30"
            ), path
            assert re.fullmatch(r'"[0-9a-f-]+"', response.headers["ETag"]), path
            assert "Accept-Encoding" in response.headers.get("Vary", "") or path == "/", path


def test_each_public_page_has_one_date_header_under_the_development_server(session, app):
    """The server dates each answer (Werkzeug's, which ``.ci/serve`` runs, and gunicorn):
    the app adds no ``Date`` of its own, which Werkzeug would send as a second header (the
    list of drives, and its 304, had two)."""
    make_coalition(session)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for path in PUBLIC_PAGES:
            etag = None
            for asked in ({}, {}, {"If-None-Match": "later"}):  # built, cached, conditional
                connection = http.client.HTTPConnection("127.0.0.1", server.server_port)
                connection.request("GET", path, headers={"If-None-Match": etag} if asked else {})
                answer = connection.getresponse()
                answer.read()
                etag = answer.getheader("ETag")
                assert answer.status == (304 if asked else 200), path
                assert len(answer.msg.get_all("Date")) == 1, (path, answer.msg.get_all("Date"))
                connection.close()
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_answers_that_no_session_changes_do_not_vary_by_cookie(session, client):
    """A cache (a CDN, a browser) keys an answer with ``Vary: Cookie`` on the visitor's cookies,
    so it may not share it between visitors: only pages a session can change say so. Flask
    marked the session read, and every answer ``Vary: Cookie``, when anything so much as
    asked whether the session was empty (Flask-Login's after-request hook did, each time)."""
    make_coalition(session)
    for _ in range(2):  # built, then from the cache
        assert "Vary" not in client.get("/healthz").headers
        assert client.get("/api/drives/mo-2026").headers["Vary"] == "Accept-Encoding"
        assert (
            client.get("/drives/mo-2026").headers["Vary"]
            == "Accept-Encoding, Cookie, Accept-Language"
        )


def test_a_signed_in_treasurer_gets_a_private_page(session, app):
    make_coalition(session)
    with data(app) as books:
        make_user(books, "dana@stl.org", "st-louis")
    dana = SignedIn(app, "dana@stl.org")
    for path in ("/", "/drives/mo-2026"):
        response = dana.get(path)
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "private, no-store"
        assert "ETag" not in response.headers


def etag_of(client, path="/drives/mo-2026"):
    return client.get(path).headers["ETag"]


def tags(client):
    return {path: etag_of(client, path) for path in PUBLIC_PAGES[1:]}


def test_the_etag_changes_when_and_only_when_what_the_page_shows_changes(session, client):
    drive = make_coalition(session)
    gift = make_gift(
        session,
        drive,
        10_000,
        chapter="st-louis",
        donor_name="Ana B.",
        show_name=True,
        donor_email="ana@example.org",
    )
    before = tags(client)
    assert tags(client) == before  # nothing changed: the same tags, again and again

    make_gift(session, drive, 2_500, chapter="st-louis")  # a gift
    after_gift = tags(client)
    assert all(after_gift[path] != before[path] for path in before)

    ledger.append(  # a refund
        session,
        kind=EntryKind.REFUND,
        amount_cents=-1_000,
        drive_id=drive.id,
        chapter_id=gift.chapter_id,
        gift_id=gift.id,
        memo="refund",
    )
    session.commit()
    after_refund = tags(client)
    assert all(after_refund[path] != after_gift[path] for path in before)
    assert "$115.00 raised" in client.get("/drives/mo-2026").get_data(as_text=True)

    with data(client.application) as books:  # an erased name
        privacy.erase(books, "ana@example.org")
        books.commit()
    after_erasure = tags(client)
    assert after_erasure["/drives/mo-2026"] != after_refund["/drives/mo-2026"]
    assert "Ana B." not in client.get("/drives/mo-2026").get_data(as_text=True)

    session.exec(select(Drive).where(Drive.slug == "mo-2026")).one().title = "Show-Me Jubilee"
    session.commit()  # an edited title
    after_title = tags(client)
    assert all(after_title[path] != after_erasure[path] for path in before)
    assert tags(client) == after_title


def test_a_matching_if_none_match_is_answered_304_without_building(session, client, monkeypatch):
    make_coalition(session)
    for path in PUBLIC_PAGES:
        tag = etag_of(client, path)
        if path != "/":  # the drive's pages and API: nothing is built or read but the state
            monkeypatch.setattr(drive_pages, "drive_view", _must_not_build)
        not_modified = client.get(path, headers={"If-None-Match": tag})
        assert not_modified.status_code == 304, path
        assert not_modified.data == b"" and not_modified.headers["ETag"] == tag
        assert "Set-Cookie" not in not_modified.headers
        monkeypatch.undo()
        stale = client.get(path, headers={"If-None-Match": '"0123456789abcdef"'})
        assert stale.status_code == 200 and len(stale.data) > 20, path


def _must_not_build(*_args, **_kwargs):
    raise AssertionError("a 304 built the page")


def test_a_stale_etag_after_a_gift_gets_the_new_page(session, client):
    drive = make_coalition(session)
    tag = etag_of(client)
    make_gift(session, drive, 2_500)
    response = client.get("/drives/mo-2026", headers={"If-None-Match": tag})
    assert response.status_code == 200 and "$25.00 raised" in text_of(response)


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_a_compressed_answer_decompresses_to_the_same_page(session, client, encoding):
    make_coalition(session)
    for path in PUBLIC_PAGES[1:]:
        plain = client.get(path)
        for _ in range(2):  # compressed when first asked, then kept
            packed = client.get(path, headers={"Accept-Encoding": f"{encoding}, deflate"})
            assert packed.headers["Content-Encoding"] == encoding
            unpacked = (
                gzip.decompress(packed.data)
                if encoding == "gzip"
                else brotli.decompress(packed.data)
            )
            assert unpacked == plain.data and len(packed.data) < len(plain.data), path
            assert packed.headers["ETag"] != plain.headers["ETag"]  # another representation
        assert (
            "Content-Encoding"
            not in client.get(path, headers={"Accept-Encoding": f"{encoding};q=0"}).headers
        )


def text_of(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_an_operator_may_let_caches_keep_public_pages_longer(database_url):
    app = make_app(database_url, PUBLIC_MAX_AGE=60)
    with data(app) as session:
        make_coalition(session)
    client = app.test_client()
    for path in PUBLIC_PAGES:
        cache_control = client.get(path).headers["Cache-Control"]
        assert cache_control == "public, max-age=60, stale-while-revalidate=30", path
    app.extensions["relief.engine"].dispose()
