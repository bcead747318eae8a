"""Which flyer or post brought the money in: organizers and treasurers see money per ref and
per UTM source, net of refunds, for a drive and chapter; both treasurer CSVs carry the link."""

import csv
import io
import re
from datetime import UTC, datetime

from relief import drives, ledger
from relief.models import EntryKind, Gift, GiftMethod, GiftStatus
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import SignedIn, data, make_user

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def linked_gift(session, drive, cents, chapter, **link):
    part = drives.chapter_in_drive(session, drive, chapter)
    gift = Gift(
        drive_id=drive.id,
        chapter_id=part.id,
        amount_cents=cents,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        received_at=AT,
        **link,
    )
    session.add(gift)
    session.flush()
    ledger.append(
        session,
        kind=EntryKind.GIFT,
        amount_cents=cents,
        drive_id=drive.id,
        chapter_id=part.id,
        gift_id=gift.id,
        effective_at=AT,
    )
    return gift


def setup(app):
    with data(app) as session:
        drive = make_coalition(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "o@stl.org", "st-louis", role="organizer")
        make_user(session, "o@kc.org", "kansas-city", role="organizer")
        flyer = linked_gift(
            session, drive, 5_000, "st-louis", ref="flyer-a", utm_source="flyer",
            utm_medium="print", utm_campaign="spring",
        )  # fmt: skip
        linked_gift(session, drive, 2_000, "st-louis", ref="flyer-a", utm_source="flyer")
        linked_gift(session, drive, 3_000, "st-louis", ref="=cmd", utm_source="facebook")
        # Half of the first flyer gift is refunded: the flyer counts what stays.
        ledger.append(
            session,
            kind=EntryKind.REFUND,
            amount_cents=-2_500,
            drive_id=drive.id,
            chapter_id=flyer.chapter_id,
            gift_id=flyer.id,
            effective_at=AT,
        )
        make_gift(session, drive, 1_000, chapter="st-louis")  # a check: no link
        linked_gift(session, drive, 9_900, "kansas-city", ref="kc-only", utm_source="kc")
        session.commit()
        return drive


def table(page, key):
    """The rows of an attribution table as the reader sees them: (label, gifts, given, raised)."""
    body = re.search(rf'<table data-table="{key}">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert body, page
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S):
        cells = [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows.append((cells[0], cells[2], cells[3], cells[1]))
    return rows


def test_treasurer_sees_money_per_ref_and_source_net_of_a_refund(app):
    setup(app)
    treasurer = SignedIn(app, "t@stl.org")
    page = treasurer.get("/treasurer/st-louis/attribution").get_data(as_text=True)
    assert table(page, "ref") == [
        ("flyer-a", "2", "$70.00", "$45.00"),
        ("=cmd", "1", "$30.00", "$30.00"),
        ("(none)", "1", "$10.00", "$10.00"),
    ]
    assert table(page, "source") == [
        ("flyer", "2", "$70.00", "$45.00"),
        ("facebook", "1", "$30.00", "$30.00"),
        ("(none)", "1", "$10.00", "$10.00"),
    ]
    assert "kc-only" not in page
    assert 'role="img"' in page and 'data-chart="ref"' in page
    assert '<option value="1" selected>Missouri Medical Debt Jubilee</option>' in page


def test_organizer_sees_the_same_and_another_chapter_does_not(app):
    setup(app)
    organizer = SignedIn(app, "o@stl.org")
    page = organizer.get("/organize/st-louis/drives/mo-2026/attribution").get_data(as_text=True)
    assert table(page, "ref")[0] == ("flyer-a", "2", "$70.00", "$45.00")
    assert "attribution" in organizer.get("/organize/st-louis/drives/mo-2026/").get_data(
        as_text=True
    )
    other = SignedIn(app, "o@kc.org")
    assert other.get("/organize/st-louis/drives/mo-2026/attribution").status_code == 404
    assert other.get("/treasurer/st-louis/attribution").status_code == 404


def test_attribution_is_on_no_public_page(app):
    setup(app)
    for url in ("/drives/mo-2026", "/api/drives/mo-2026", "/drives/mo-2026/ledger.csv"):
        assert "flyer-a" not in app.test_client().get(url).get_data(as_text=True)


def test_both_treasurer_csvs_carry_the_link_columns(app):
    setup(app)
    treasurer = SignedIn(app, "t@stl.org")
    for url in ("/treasurer/st-louis/donors.csv", "/treasurer/st-louis/ledger.csv"):
        rows = list(csv.DictReader(io.StringIO(treasurer.get(url).get_data(as_text=True))))
        linked = [row for row in rows if row["ref"] == "flyer-a"]
        assert linked, url
        assert linked[0]["utm_source"] == "flyer"
        assert {"utm_medium", "utm_campaign"} <= set(linked[0])
        assert any(row["ref"] == "'=cmd" for row in rows), "formula neutralised"
    donors = list(
        csv.DictReader(
            io.StringIO(treasurer.get("/treasurer/st-louis/donors.csv").get_data(as_text=True))
        )
    )
    first = next(row for row in donors if row["utm_campaign"] == "spring")
    assert (first["ref"], first["utm_medium"], first["net"]) == ("flyer-a", "print", "25.00")
