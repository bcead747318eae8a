"""What a visitor sees on the pages and the API: the same figures, no private data."""

import re

import pytest

from relief import ledger
from tests.factories import make_coalition, make_gift
from tests.read_back import qr_codes_in_svg


def text_of(response):
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def test_page_and_api_show_the_same_figures(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 60_000, chapter="mid-missouri", donor_name="Ana B.", show_name=True)
    make_gift(session, drive, 50_000, chapter="st-louis")
    make_gift(session, drive, 50_000)
    api = client.get("/api/drives/mo-2026").get_json()
    totals = ledger.totals(session, drive)
    assert api["raised_cents"] == totals.raised_cents == 160_000
    assert api["net_cents"] == 160_000 and api["fees_cents"] == 0
    assert api["projected_relief_cents"] == 16_000_000
    assert api["donation_count"] == 3 and api["ratio"] == "100:1"
    assert api["fingerprint"] == totals.fingerprint
    assert {c["slug"]: (c["raised_cents"], c["donation_count"]) for c in api["chapters"]} == {
        # The host's books hold the gift to the whole drive: the chapters add up to the drive.
        "mid-missouri": (110_000, 2),
        "st-louis": (50_000, 1),
        "kansas-city": (0, 0),
    }
    host = next(c for c in api["chapters"] if c["host"])
    assert (host["whole_drive_raised_cents"], host["whole_drive_donation_count"]) == (50_000, 1)
    page = text_of(client.get("/drives/mo-2026"))
    assert "$1,600.00 raised of $1,600.00 goal" in page
    assert "Projected: about $160,000 of medical debt relieved" in page
    assert "Mid-Missouri $600.00" in page
    assert "Plus $500.00 in 1 gift to the whole drive, held by Mid-Missouri" in page
    assert api["fingerprint"][:16] in page


def test_unknown_drive_is_a_json_404(client):
    response = client.get("/api/drives/nowhere")
    assert response.status_code == 404
    assert response.get_json() == {"error": "There is no drive “nowhere”."}


def test_unknown_drive_or_chapter_page_is_a_friendly_404(session, client):
    make_coalition(session)
    assert client.get("/drives/nowhere").status_code == 404
    response = client.get("/drives/mo-2026/springfield")
    assert response.status_code == 404 and "no chapter" in text_of(response)


def test_chapter_page_shows_its_part_of_the_drive(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 12_345, chapter="st-louis")
    page = text_of(client.get("/drives/mo-2026/st-louis"))
    assert "St. Louis's part" in page and "$123.45" in page
    assert "credited to St. Louis" in page


def test_supporters_show_names_only_where_allowed_and_never_emails(session, client):
    drive = make_coalition(session)
    make_gift(
        session,
        drive,
        2_500,
        donor_name="Rosa Public",
        show_name=True,
        donor_email="rosa@example.org",
    )
    make_gift(
        session,
        drive,
        2_500,
        donor_name="Hidden Person",
        show_name=False,
        donor_email="hidden@example.org",
    )
    html = client.get("/drives/mo-2026").get_data(as_text=True)
    api = client.get("/api/drives/mo-2026").get_data(as_text=True)
    assert "Rosa Public" in html and "Anonymous" in html
    for private in ("Hidden Person", "rosa@example.org", "hidden@example.org"):
        assert private not in html and private not in api


def test_names_are_escaped(session, client):
    drive = make_coalition(session)
    make_gift(session, drive, 2_500, donor_name="<script>alert(1)</script>", show_name=True)
    html = client.get("/drives/mo-2026").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_index_lists_active_drives_only(session, client):
    from datetime import date, timedelta

    make_coalition(session)
    from relief import drives

    drives.create_drive(
        session,
        slug="old",
        title="Last Year's Drive",
        goal_cents=100,
        chapter_slugs=["st-louis"],
        starts_on=date(2025, 1, 1),
        ends_on=date.today() - timedelta(days=1),
    )
    session.commit()
    page = text_of(client.get("/"))
    assert "Missouri Medical Debt Jubilee" in page and "Last Year's Drive" not in page


@pytest.mark.parametrize(
    "page_url", ["http://localhost/drives/mo-2026", "http://localhost/drives/mo-2026/st-louis"]
)
def test_the_qr_code_a_page_shows_leads_to_that_page(session, client, page_url):
    """The code is decoded from the picture the page's <img> shows, as a phone would."""
    make_coalition(session)
    html = client.get(page_url).get_data(as_text=True)
    (source,) = re.findall(r'<img class="qr" src="([^"]+)"', html)
    picture = client.get(source)
    assert picture.status_code == 200 and picture.mimetype == "image/svg+xml"
    assert qr_codes_in_svg(picture.data) == [page_url]


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200


def test_readyz_fails_when_the_database_is_gone(tmp_path):
    from tests.conftest import make_app

    app = make_app(f"sqlite:///{tmp_path}/missing/dir/relief.db")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503


def test_security_headers_are_set(client):
    response = client.get("/healthz")
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_supporters_show_what_a_gift_counts_for_after_corrections(session, client):
    from relief.models import EntryKind

    drive = make_coalition(session)
    typo = make_gift(session, drive, 50_000, donor_name="Typo Check", show_name=True)
    voided = make_gift(session, drive, 2_000, donor_name="Bounced Check", show_name=True)
    for gift, change in ((typo, -45_000), (voided, -2_000)):
        ledger.append(
            session,
            kind=EntryKind.CORRECTION,
            amount_cents=change,
            drive_id=drive.id,
            gift_id=gift.id,
            memo="treasurer correction",
        )
    session.commit()
    page = text_of(client.get("/drives/mo-2026"))
    assert "Typo Check $50.00" in page and "$500.00" not in page
    assert "Bounced Check" not in page
    assert "$50.00 raised of $1,600.00 goal" in page
