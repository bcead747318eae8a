"""Drive pages and the API are served from a per-worker cache that a ledger write invalidates
at once: a visitor never sees figures older than the books."""

import re
import time

import pytest
from sqlmodel import Session, select

from relief import ledger
from relief.models import Chapter, Drive
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift


@pytest.fixture(params=["state read each time", "change counter"])
def app(request, database_url, tmp_path):
    """Each test twice: every request reading the drive's state, and with the change counter
    on (relief/pagecache/counter.py), where a request reads it only after a commit."""
    config = {}
    if request.param == "change counter":
        config["CHANGE_COUNTER"] = str(tmp_path / "relief.changes")
    app = make_app(database_url, **config)
    yield app
    app.extensions["relief.engine"].dispose()


@pytest.fixture
def session(app):
    """The books, written as a treasurer or Stripe would: outside the visitors' requests
    (the shared fixture keeps an app context open, so requests would share one db session)."""
    with Session(app.extensions["relief.engine"], expire_on_commit=False) as books:
        yield books


def text_of(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def warm(client, *paths):
    """Ask twice, so the second answer comes from the cache."""
    cache = client.application.extensions
    for path in paths:
        client.get(path)
    hits = cache["relief.responses"].hits
    for path in paths:
        assert client.get(path).status_code == 200
    assert cache["relief.responses"].hits == hits + len(paths)


def test_a_new_gift_shows_at_once_on_the_warm_page_and_api(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 10_000, chapter="st-louis", donor_name="Ana B.", show_name=True)
    warm(client, "/drives/mo-2026", "/drives/mo-2026/st-louis", "/api/drives/mo-2026")
    assert "$100.00 raised of $1,600.00 goal" in text_of(client.get("/drives/mo-2026"))

    make_gift(session, drive, 2_500, chapter="st-louis", donor_name="Ben C.", show_name=True)

    page = text_of(client.get("/drives/mo-2026"))
    assert "$125.00 raised of $1,600.00 goal" in page
    assert "Ben C. $25.00" in page
    chapter_page = text_of(client.get("/drives/mo-2026/st-louis"))
    assert "St. Louis's part $125.00 raised" in chapter_page
    assert "Ben C. $25.00" in chapter_page
    api = client.get("/api/drives/mo-2026").get_json()
    totals = ledger.totals(session, drive)
    assert api["raised_cents"] == totals.raised_cents == 12_500
    assert api["donation_count"] == 2
    assert api["fingerprint"] == totals.fingerprint
    assert {c["slug"]: c["raised_cents"] for c in api["chapters"]}["st-louis"] == 12_500


def test_every_ledger_entry_shows_at_once_even_when_totals_come_back_to_the_same(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 5_000)
    warm(client, "/api/drives/mo-2026")
    before = client.get("/api/drives/mo-2026").get_json()

    # A correction and its reversal: raised is the same again, the books are not.
    from relief.models import EntryKind

    for amount in (700, -700):
        ledger.append(
            session, kind=EntryKind.CORRECTION, amount_cents=amount, drive_id=drive.id, memo="typo"
        )
        session.commit()
        api = client.get("/api/drives/mo-2026").get_json()
        assert api["raised_cents"] == 5_000 + (700 if amount > 0 else 0)

    assert api["raised_cents"] == before["raised_cents"]
    assert api["entry_count"] == before["entry_count"] + 2
    assert api["fingerprint"] == ledger.totals(session, drive).fingerprint != before["fingerprint"]


def test_an_edited_drive_or_chapter_shows_at_once(session, client):
    make_coalition(session)
    warm(client, "/drives/mo-2026", "/api/drives/mo-2026")

    drive = session.exec(select(Drive).where(Drive.slug == "mo-2026")).one()
    drive.title = "Show-Me Debt Jubilee"
    drive.goal_cents = 200_000
    session.exec(select(Chapter).where(Chapter.slug == "st-louis")).one().name = "STL"
    session.commit()

    page = text_of(client.get("/drives/mo-2026"))
    assert "Show-Me Debt Jubilee" in page and "of $2,000.00 goal" in page and "STL" in page
    assert client.get("/api/drives/mo-2026").get_json()["goal_cents"] == 200_000


def test_a_visitor_with_a_session_gets_a_page_built_for_them(session, client):
    make_coalition(session)
    warm(client, "/drives/mo-2026")
    cache = client.application.extensions["relief.responses"]
    with client.session_transaction() as visitor:
        visitor["signed_in_as"] = "treasurer@example.org"
    hits = cache.hits
    assert client.get("/drives/mo-2026").status_code == 200
    assert cache.hits == hits


def test_unknown_drives_and_chapters_are_still_404(session, client):
    make_coalition(session)
    warm(client, "/drives/mo-2026")
    assert client.get("/drives/nowhere").status_code == 404
    assert client.get("/drives/mo-2026/nowhere").status_code == 404
    assert client.get("/api/drives/nowhere").status_code == 404


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_page_recovers_when_the_database_drops_its_connections(app, session, client):
    """PostgreSQL restarted or a connection killed: one request may fail with the 503 page,
    the next is served again (the pool has no pre-ping; dead connections are replaced)."""
    from sqlalchemy import create_engine, text

    make_coalition(session)
    session.close()
    warm(client, "/drives/mo-2026", "/api/drives/mo-2026")
    admin = create_engine(app.config["DATABASE_URL"], isolation_level="AUTOCOMMIT")
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with admin.connect() as connection:
        connection.execute(text(f"SELECT pg_terminate_backend(pid) {others}"))
        for _ in range(600):  # it only signals them; wait until they are gone (busy CI: long)
            left = connection.execute(text(f"SELECT count(*) {others}")).scalar_one()
            if left == 0:
                break
            time.sleep(0.05)
        assert left == 0, "the terminated connections did not go away"
    admin.dispose()

    first = client.get("/api/drives/mo-2026")
    assert first.status_code in (200, 503)
    if first.status_code == 503:
        assert "try again" in first.get_json()["error"]
    for path in ("/drives/mo-2026", "/api/drives/mo-2026"):
        assert client.get(path).status_code == 200


def test_the_shared_page_gives_each_visitor_their_own_attribution_and_the_pages_token(session, app):
    from relief.models import Gift

    make_coalition(session)
    first, second = app.test_client(), app.test_client()
    first.get("/drives/mo-2026?ref=flyer&utm_source=news")
    hits = app.extensions["relief.responses"].hits
    html_first = first.get("/drives/mo-2026?ref=flyer&utm_source=news").get_data(as_text=True)
    html_second = second.get("/drives/mo-2026?ref=%22%3E%3Cb%3E").get_data(as_text=True)
    assert app.extensions["relief.responses"].hits == hits + 2  # both served from the cache

    token = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
    first_token, second_token = token.search(html_first)[1], token.search(html_second)[1]
    # The form's token is the page's, not a visitor's: no session is needed to give.
    assert first_token == second_token and "relief-slot" not in first_token
    assert 'name="ref" type="hidden" value="flyer"' in html_first
    assert 'value="news"' in html_first
    assert 'value="&#34;&gt;&lt;b&gt;"' in html_second and '"><b>' not in html_second
    assert "relief-slot" not in html_first + html_second

    # The token filled into the shared page is the visitor's own: the form goes through.
    response = first.post(
        "/drives/mo-2026/donate",
        data={
            "csrf_token": first_token,
            "amount_choice": "2500",
            "frequency": "once",
            "show_name": "anonymous",
            "email": "donor@example.org",
            "ref": "flyer",
        },
    )
    assert response.status_code in (302, 303), response.get_data(as_text=True)[:500]
    gift = session.exec(select(Gift).order_by(Gift.id.desc())).first()
    assert gift.ref == "flyer" and gift.amount_cents == 2_500
    # Another page's token is refused.
    chapter_page = second.get("/drives/mo-2026/st-louis").get_data(as_text=True)
    refused = second.post(
        "/drives/mo-2026/donate",
        data={
            "csrf_token": token.search(chapter_page)[1],
            "amount_choice": "2500",
            "frequency": "once",
            "show_name": "anonymous",
            "email": "donor@example.org",
        },
    )
    assert refused.status_code == 400
