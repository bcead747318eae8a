"""Which flyer or post brought the money in: organizers and treasurers see money per ref and
per UTM source, net of refunds, for a drive and chapter; both treasurer CSVs carry the link."""

import csv
import io
import re
from datetime import UTC, datetime

from sqlmodel import select

from relief import drives, ledger
from relief.models import EntryKind, Gift, GiftMethod, GiftStatus
from relief.treasury import attribution
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import SignedIn, data, make_user

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)


def linked_gift(session, drive, cents, chapter, **link):
    part = drives.chapter_in_drive(session, drive, chapter) if chapter else None
    gift = Gift(
        drive_id=drive.id,
        chapter_id=part.id if part else None,
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
        chapter_id=gift.chapter_id,
        gift_id=gift.id,
        effective_at=AT,
    )
    return gift


def setup(app):
    with data(app) as session:
        drive = setup_gifts(session)
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "o@stl.org", "st-louis", role="organizer")
        make_user(session, "o@kc.org", "kansas-city", role="organizer")
        session.commit()
        return drive


def setup_gifts(session):
    """St. Louis's gifts through two flyers and a post (one half refunded) and a check, and
    one of Kansas City's."""
    drive = make_coalition(session)
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
    assert "the gifts of donors who asked to be erased" in page
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


def by_entries(session, chapter_slug, drive):
    """The attribution the slow way: every raised entry of the chapter's books (its own, and
    the whole drive's if it hosts the drive), with its gift's link as it is now."""
    from relief.ledger import RAISED_KINDS
    from relief.models import Chapter, Entry

    chapter = session.exec(select(Chapter).where(Chapter.slug == chapter_slug)).one()
    by = {"ref": {}, "source": {}}
    for entry in session.exec(select(Entry).where(Entry.drive_id == drive.id)):
        mine = entry.chapter_id == chapter.id or (
            entry.chapter_id is None and drive.host_chapter_id == chapter.id
        )
        if not mine or entry.kind not in RAISED_KINDS or entry.gift_id is None:
            continue
        gift = session.get(Gift, entry.gift_id)
        for name, label in (("ref", gift.ref), ("source", gift.utm_source)):
            row = by[name].setdefault(label or "(none)", [0, 0, 0])
            row[0] += ledger.gift_count_delta(entry.kind, entry.amount_cents)
            row[1] += entry.amount_cents if entry.kind is EntryKind.GIFT else 0
            row[2] += entry.amount_cents
    return {
        name: {label: tuple(row) for label, row in rows.items() if any(row)}
        for name, rows in by.items()
    }


def as_read(result):
    return {
        name: {row.label: (row.gift_count, row.gifts_cents, row.raised_cents) for row in rows}
        for name, rows in (("ref", result.by_ref), ("source", result.by_source))
    }


def test_the_pages_sums_by_link_are_the_entries_through_refunds_erasures_and_purges(app, session):
    """Random gifts through random links, to chapters and to the whole drive, then refunds,
    disputes, corrections, donors erased (their links forgotten) and test gifts purged: each
    chapter's attribution, read from the running sums, is what its entries say with each
    gift's link as it is now, and ``ledger verify`` agrees."""
    import random

    from relief import privacy
    from relief.models import Chapter
    from relief.payments import testmode

    drive = make_coalition(session)
    rng = random.Random(20261205)
    chapters = [None, "mid-missouri", "st-louis", "kansas-city"]
    gifts = []
    for i in range(80):
        gift = linked_gift(
            session, drive, rng.randint(100, 50_000), rng.choice(chapters),
            ref=rng.choice([None, "", "flyer-a", "radio", "=cmd"]),
            utm_source=rng.choice([None, "flyer", "facebook"]),
            donor_email=f"donor{i % 30}@example.org", test_mode=rng.random() < 0.1,
        )  # fmt: skip
        gifts.append(gift)
        if rng.random() < 0.4:
            kind = rng.choice([EntryKind.REFUND, EntryKind.DISPUTE_WITHDRAWN, EntryKind.CORRECTION])
            ledger.append(
                session,
                kind=kind,
                amount_cents=rng.choice([-1, 1] if kind is EntryKind.CORRECTION else [-1])
                * rng.randint(1, gift.amount_cents),
                drive_id=drive.id,
                chapter_id=gift.chapter_id,
                gift_id=gift.id,
                effective_at=AT,
            )
        session.commit()
        if i % 20 == 19:  # a donor asks to be forgotten; their later gifts carry no link
            known = sorted({gift.donor_email for gift in gifts if gift.donor_email})
            with app.app_context():
                privacy.erase(session, rng.choice(known))
            session.commit()
    testmode.purge(session)
    session.commit()
    assert ledger.verify(session, drive) == []
    assert any(gift.ref is None and gift.donor_email is None for gift in gifts), "someone erased"
    for slug in ("mid-missouri", "st-louis", "kansas-city"):
        chapter = session.exec(select(Chapter).where(Chapter.slug == slug)).one()
        assert as_read(attribution.attribution(session, chapter, drive)) == by_entries(
            session, slug, drive
        ), slug


def test_an_erased_donors_link_leaves_the_sums_with_their_name(session, runner, database_url):
    """A ref may name the donor (``?ref=jane-smith``): once she is erased her gift counts under
    "(none)", and no row, nor the SQLite file, keeps the label; a refund after it is taken
    from "(none)"."""
    from relief.models import Chapter, LinkTotal
    from tests.integration.test_backup_and_privacy import fresh, held_anywhere

    drive = make_coalition(session)
    jane = linked_gift(
        session, drive, 4_000, "st-louis", ref="jane-smith", utm_source="jane-smith",
        donor_email="jane@example.org",
    )  # fmt: skip
    linked_gift(session, drive, 1_000, "st-louis", ref="flyer-a")
    session.commit()
    fresh(session)  # no read transaction open
    erased = runner.invoke(args=["donor", "erase", "jane@example.org", "--yes"])
    assert erased.exit_code == 0, erased.output
    assert held_anywhere(session, database_url, needles=("jane-smith",)) == []
    labels = {(r.ref, r.utm_source) for r in session.exec(select(LinkTotal))}
    assert labels == {("", ""), ("flyer-a", "")}
    ledger.append(
        session, kind=EntryKind.REFUND, amount_cents=-1_500, drive_id=drive.id,
        chapter_id=jane.chapter_id, gift_id=jane.id, effective_at=AT,
    )  # fmt: skip
    session.commit()
    st_louis = session.exec(select(Chapter).where(Chapter.slug == "st-louis")).one()
    read = as_read(attribution.attribution(session, st_louis, drive))
    assert read["ref"] == {"(none)": (1, 4_000, 2_500), "flyer-a": (1, 1_000, 1_000)}
    assert ledger.verify(session, drive) == []


def test_verify_notices_sums_by_link_that_differ_from_the_entries(session):
    from relief.models import LinkTotal

    drive = make_coalition(session)
    linked_gift(session, drive, 2_500, "st-louis", ref="flyer-a")
    session.commit()
    row = session.exec(select(LinkTotal)).one()
    assert (row.ref, row.utm_source, row.gift_count, row.raised_cents) == ("flyer-a", "", 1, 2_500)
    row.raised_cents += 1
    session.commit()
    assert ledger.verify(session, drive) == ["the gifts' sums by link differ from the ledger"]


def test_the_link_totals_migration_fills_them_from_the_entries_already_there(session):
    """On a database that had gifts before it, the migration fills the sums by link from the
    ledger (refunds and a purged test gift included) as the app keeps them from then on."""
    from alembic import command
    from sqlmodel import Session

    from relief.db import alembic_config
    from relief.models import LinkTotal
    from relief.payments import testmode

    drive = setup_gifts(session)
    linked_gift(session, drive, 700, None, ref="radio", test_mode=True)
    session.commit()
    testmode.purge(session)
    session.commit()

    def kept(of) -> dict:
        return {
            (r.drive_id, r.chapter_id, r.ref, r.utm_source): (
                r.gift_count, r.gifts_cents, r.raised_cents,
            )
            for r in of.exec(select(LinkTotal))
            if (r.gift_count, r.gifts_cents, r.raised_cents) != (0, 0, 0)
        }  # fmt: skip

    before = kept(session)
    assert len(before) == 4
    session.close()
    url = session.get_bind().url.render_as_string(hide_password=False)
    command.downgrade(alembic_config(url), "0035_chapter_gift_lists")
    command.upgrade(alembic_config(url), "head")
    with Session(session.get_bind()) as fresh:
        assert kept(fresh) == before
        assert ledger.verify(fresh, drive) == []
