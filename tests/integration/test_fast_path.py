"""The fast path (relief/pagecache/fastpath.py): a repeat of a public request Flask answered
from the cache is answered before Flask — no context, no routing, no hooks — with the same
status, headers and bytes Flask gave, and never when anything the answer depends on moved."""

from __future__ import annotations

import pytest

from relief.pagecache import fastpath
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import csrf_token

PAGES = ("/drives/mo-2026", "/drives/mo-2026/st-louis", "/api/drives/mo-2026")


@pytest.fixture
def flask_calls(app):
    """The requests that reached Flask (the fast path did not answer them)."""
    calls: list[str] = []
    assert fastpath.of(app) is not None, "the fast path is on by default"
    answers = app.wsgi_app  # web.Answers, around Flask
    inner = answers.wsgi_app

    def counted(environ, start_response):
        calls.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    answers.wsgi_app = counted
    return calls


def _same_answer(flask_answer, fast_answer, what):
    assert fast_answer.status == flask_answer.status, what
    assert fast_answer.data == flask_answer.data, what
    assert sorted(fast_answer.headers.items()) == sorted(flask_answer.headers.items()), what


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Accept-Encoding": "gzip"},
        {"Accept-Encoding": "br, gzip"},
        {"Accept-Language": "es-MX,es;q=0.9"},
    ],
    ids=["plain", "gzip", "br", "spanish"],
)
def test_a_repeat_is_answered_before_flask_as_flask_answered_it(
    session, client, flask_calls, headers
):
    make_coalition(session)
    for path in PAGES:
        built = client.get(path, headers=headers)  # Flask builds, the fast path learns
        flask_calls.clear()
        again = client.get(path, headers=headers)
        assert flask_calls == [], path  # answered without Flask
        _same_answer(built, again, path)

        tagged = {**headers, "If-None-Match": built.headers["ETag"]}
        not_modified = client.get(path, headers=tagged)  # Flask's 304, learnt
        flask_calls.clear()
        again = client.get(path, headers=tagged)
        assert flask_calls == [] and again.status_code == 304 and again.data == b"", path
        _same_answer(not_modified, again, path)
        assert "Set-Cookie" not in again.headers
        assert again.headers["Content-Security-Policy"]  # the security headers, as on any answer


def test_a_link_with_attribution_gets_its_304_before_flask_and_its_page_from_flask(
    session, client, flask_calls
):
    make_coalition(session)
    path = "/drives/mo-2026?ref=flyer&utm_source=mail"
    page = client.get(path)
    assert 'value="flyer"' in page.get_data(as_text=True)
    tagged = {"If-None-Match": page.headers["ETag"]}
    assert client.get(path, headers=tagged).status_code == 304
    flask_calls.clear()
    assert client.get(path, headers=tagged).status_code == 304
    assert flask_calls == []
    # The page itself is filled in for the visitor by Flask, from the stored pieces.
    again = client.get(path)
    assert flask_calls == ["/drives/mo-2026"]
    assert again.data == page.data


def test_a_gift_is_on_the_very_next_answer(session, client, flask_calls):
    drive = make_coalition(session)
    for path in PAGES:
        client.get(path)
        client.get(path)
    tag = client.get(PAGES[0]).headers["ETag"]
    flask_calls.clear()
    make_gift(session, drive, 2_500)
    page = client.get(PAGES[0])
    assert "$25.00" in page.get_data(as_text=True)
    assert page.headers["ETag"] != tag
    assert client.get(PAGES[0], headers={"If-None-Match": tag}).status_code == 200
    assert client.get(PAGES[2]).get_json()["raised_cents"] == 2_500
    assert flask_calls == [PAGES[0], PAGES[2]]  # built anew once each; the 304 check then hit


def test_a_visitor_with_a_cookie_a_form_or_another_language_goes_to_flask(
    session, client, flask_calls
):
    make_coalition(session)
    path = PAGES[0]
    client.get(path)
    client.get(path)
    flask_calls.clear()
    client.head(path)
    assert flask_calls == [path]  # only GETs
    token = csrf_token(client)  # the sign-in page gives this client a session cookie
    flask_calls.clear()
    client.get(path)
    assert flask_calls == [path]  # with a cookie: Flask decides what the session shows
    client.delete_cookie("session")
    flask_calls.clear()
    client.post(path, data={"csrf_token": token})
    assert flask_calls == [path]
    client.get(path, headers={"Accept-Language": "es"})
    assert flask_calls == [path, path]  # a language not seen yet: Flask answers, once


def test_with_the_fast_path_off_flask_answers_everything(database_url):
    from tests.conftest import make_app
    from tests.treasury_helpers import data

    app = make_app(database_url, FAST_PATH=False)
    try:
        with data(app) as session:
            make_coalition(session)
        assert fastpath.of(app) is None
        client = app.test_client()
        assert client.get(PAGES[0]).status_code == 200
    finally:
        app.extensions["relief.engine"].dispose()
