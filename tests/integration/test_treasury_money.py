"""The treasurer's money screens: gifts sent directly to the partner, corrections, assigning
unassigned gifts, remittances, the partner's report, and the dashboard — all from the ledger."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from relief import drive_pages, drives, ledger
from relief.errors import Conflict
from relief.models import Entry, EntryKind, Gift, GiftMethod, GiftStatus, Remittance
from relief.treasury import remittances
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import SignedIn, data, make_user


def setup(app, **drive_options):
    with data(app) as session:
        make_coalition(session, **drive_options)
        make_user(session, "t@stl.org", "st-louis")
    return SignedIn(app, "t@stl.org")


def chapter_figures(app, slug="st-louis"):
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        totals = ledger.totals(session, drive)
        chapter = drives.get_chapter(session, slug)
        assert ledger.verify(session, drive) == []
        return totals, totals.by_chapter_id.get(chapter.id, ledger.Figures())


def figure(page: str, name: str) -> str:
    marker = f'data-figure="{name}">'
    return page.split(marker, 1)[1].split("<", 1)[0]


def test_a_gift_sent_directly_to_the_partner_counts_for_the_drive_but_is_never_held(app, today):
    treasurer = setup(app)
    with data(app) as session:
        make_gift(session, drives.get_drive(session, "mo-2026"), 10_000, chapter="st-louis")
    response = treasurer.post(
        "/treasurer/st-louis/direct",
        {
            "drive": "1",
            "amount": "250",
            "method": "check",
            "check_number": "5501",
            "name": "Pat",
            "received": today.isoformat(),
            "partner_reference": "UMD-778",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    totals, mine = chapter_figures(app)
    assert totals.raised_cents == 35_000  # counts toward the drive and its relief
    assert totals.projected_relief_cents == 3_500_000
    assert mine.remitted_cents == 25_000  # already with the partner
    assert mine.net_cents - mine.remitted_cents == 10_000  # held: only the chapter's own gift
    page = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert figure(page, "held") == "$100.00" and figure(page, "net") == "$350.00"


def test_a_correction_is_a_new_entry_with_its_reason_never_an_edit(app):
    treasurer = setup(app)
    with data(app) as session:
        gift = make_gift(session, drives.get_drive(session, "mo-2026"), 50_000, chapter="st-louis")
    response = treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "50", "reason": "Check was for $50, typed $500"},
    )
    assert response.status_code == 302
    totals, _ = chapter_figures(app)
    assert totals.raised_cents == 5_000
    with data(app) as session:
        stored = session.get(Gift, gift.id)
        assert stored.amount_cents == 50_000  # the record of what was entered stays
        entries = session.exec(select(Entry).order_by(Entry.id)).all()
        assert [(e.kind, e.amount_cents) for e in entries] == [
            (EntryKind.GIFT, 50_000),
            (EntryKind.CORRECTION, -45_000),
        ]
        assert entries[1].reverses_id == entries[0].id
        assert "typed $500" in entries[1].memo
    page = treasurer.get(f"/treasurer/st-louis/gifts/{gift.id}").get_data(as_text=True)
    assert figure(page, "current") == "$50.00"
    # Voiding it entirely, then a correction that changes nothing, refused.
    treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "0", "reason": "Check bounced"},
    )
    assert chapter_figures(app)[0].raised_cents == 0
    same = treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct",
        {"correct_amount": "0.00", "reason": "again"},
    )
    assert same.status_code == 409 and "already counts for $0.00" in same.get_data(as_text=True)
    missing_reason = treasurer.post(
        f"/treasurer/st-louis/gifts/{gift.id}/correct", {"correct_amount": "10", "reason": ""}
    )
    assert missing_reason.status_code == 400


def test_correcting_a_direct_gift_keeps_it_out_of_the_money_held(app, today):
    treasurer = setup(app)
    treasurer.post(
        "/treasurer/st-louis/direct",
        {"drive": "1", "amount": "300", "method": "check", "received": today.isoformat()},
    )
    with data(app) as session:
        gift_id = session.exec(select(Gift.id)).one()
    treasurer.post(
        f"/treasurer/st-louis/gifts/{gift_id}/correct",
        {"correct_amount": "200", "reason": "partner says $200"},
    )
    totals, mine = chapter_figures(app)
    assert totals.raised_cents == 20_000 and mine.remitted_cents == 20_000
    assert mine.net_cents - mine.remitted_cents == 0


def unassigned_card_gift(session, chapter_slug="st-louis", amount_cents=4_000, fee_cents=118):
    """A paid card gift whose drive the Stripe webhook could not tell, with its fee kept
    outside any drive — as the payments code leaves it."""
    chapter = drives.get_chapter(session, chapter_slug)
    gift = Gift(
        drive_id=None,
        chapter_id=chapter.id,
        amount_cents=amount_cents,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        donor_name="Lee",
        unmatched_drive="mo-2025",
        stripe_payment_intent_id="pi_3MtwBwLkdIwHu7ix28a3tqPa",
        received_at=datetime(2026, 3, 2, 15, tzinfo=UTC),
    )
    session.add(gift)
    session.flush()
    ledger.append(
        session,
        kind=EntryKind.FEE,
        amount_cents=fee_cents,
        drive_id=None,
        chapter_id=chapter.id,
        gift_id=gift.id,
        external_id="fee:txn_1MtwBwLkdIwHu7ixd8gX1Zpd",
    )
    session.commit()
    return gift


def test_assigning_an_unassigned_gift_posts_it_and_its_fee_to_the_drive_once(app):
    treasurer = setup(app)
    with data(app) as session:
        gift = unassigned_card_gift(session)
    page = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert "1 gift not assigned to a drive" in page
    listing = treasurer.get("/treasurer/st-louis/unassigned").get_data(as_text=True)
    assert "$40.00" in listing and "mo-2025" in listing
    response = treasurer.post(f"/treasurer/st-louis/unassigned/{gift.id}", {"drive": "1"})
    assert response.status_code == 302
    totals, mine = chapter_figures(app)
    assert totals.raised_cents == 4_000 and mine.fees_cents == 118 and mine.net_cents == 3_882
    # Assigned now: it is no longer offered, and assigning again finds nothing.
    assert (
        treasurer.post(f"/treasurer/st-louis/unassigned/{gift.id}", {"drive": "1"}).status_code
        == 404
    )
    assert chapter_figures(app)[0].raised_cents == 4_000
    assert "not assigned" not in treasurer.get("/treasurer/st-louis/").get_data(as_text=True)


def test_another_chapters_unassigned_gift_cannot_be_assigned(app):
    treasurer = setup(app)
    with data(app) as session:
        gift = unassigned_card_gift(session, chapter_slug="kansas-city")
    assert (
        treasurer.post(f"/treasurer/st-louis/unassigned/{gift.id}", {"drive": "1"}).status_code
        == 404
    )
    assert chapter_figures(app)[0].raised_cents == 0


def test_a_remittance_lowers_what_the_chapter_holds_and_cannot_exceed_it(app, today):
    treasurer = setup(app)
    with data(app) as session:
        make_gift(session, drives.get_drive(session, "mo-2026"), 60_000, chapter="st-louis")
    too_much = treasurer.post(
        "/treasurer/st-louis/remittances",
        {"drive": "1", "amount": "600.01", "sent_on": today.isoformat(), "reference": "ck 3001"},
    )
    assert too_much.status_code == 400
    assert "holds $600.00" in too_much.get_data(as_text=True)
    response = treasurer.post(
        "/treasurer/st-louis/remittances",
        {"drive": "1", "amount": "500", "sent_on": today.isoformat(), "reference": "ck 3001"},
    )
    assert response.status_code == 302
    _, mine = chapter_figures(app)
    assert mine.remitted_cents == 50_000 and mine.net_cents - mine.remitted_cents == 10_000
    page = treasurer.get("/treasurer/st-louis/remittances").get_data(as_text=True)
    assert figure(page, "held-mo-2026") == "$100.00" and "ck 3001" in page


def test_the_partners_report_shows_actual_relief_beside_the_projection(app, today):
    treasurer = setup(app, ratio_hundredths=10_000, starts_on=today - timedelta(days=30))
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        make_gift(session, drive, 100_000, chapter="st-louis")
        assert drive_pages.actual_relief(session, drive) is None
        make_user(session, "host@mm.org", "mid-missouri")  # the drive's host chapter
    public = app.test_client()
    assert public.get("/api/drives/mo-2026").get_json()["actual_relief"] is None
    public.get("/drives/mo-2026")  # warm the cached page: the report must still show at once
    treasurer.post(
        "/treasurer/st-louis/remittances",
        {"drive": "1", "amount": "1000", "sent_on": today.isoformat(), "reference": "wire 88"},
    )
    with data(app) as session:
        (remittance,) = session.exec(select(Remittance.id)).all()
    # The host's treasurer records it, naming the money St. Louis sent.
    response = SignedIn(app, "host@mm.org").post(
        "/treasurer/mid-missouri/partner-reports",
        {
            "drive": "1",
            "partner_reference": "UMD-2026-031",
            "debt_abolished": "125,000",
            "people_helped": "212",
            "unit": "people",
            "region": "Missouri",
            "reported_on": today.isoformat(),
            "remittances": [str(remittance)],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with data(app) as session:
        actual = drive_pages.actual_relief(session, drives.get_drive(session, "mo-2026"))
    assert actual.debt_abolished_cents == 12_500_000
    assert actual.people_helped == 212 and actual.regions == ("Missouri",)
    assert actual.actual_ratio_hundredths == 12_500  # 125:1 on the $1,000 that paid for it
    page = treasurer.get("/treasurer/st-louis/partner-reports").get_data(as_text=True)
    assert figure(page, "actual-mo-2026") == "$125,000"
    assert figure(page, "actual-ratio-mo-2026") == "125:1"
    assert figure(page, "actual-remitted-mo-2026") == "$1,000.00"
    assert "$100,000" in page and "100:1" in page  # projected, beside it
    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert figure(dashboard, "actual-relief") == "$125,000"
    # The public page, the API and the press PDF show it too.
    api = public.get("/api/drives/mo-2026").get_json()["actual_relief"]
    assert api == {
        "debt_abolished_cents": 12_500_000,
        "people_helped": 212,
        "counts_households": False,
        "reported_on": today.isoformat(),
        "report_count": 1,
        "remitted_cents": 100_000,
        "actual_ratio": "125:1",
    }
    page_text = " ".join(public.get("/drives/mo-2026").get_data(as_text=True).split())
    assert (
        "<strong>$125,000</strong> of medical debt actually relieved for "
        "<strong>212</strong> people" in page_text
    )
    assert "125:1 on the $1,000.00 that paid for these purchases" in page_text
    import subprocess

    pdf = public.get("/drives/mo-2026/report.pdf").data
    text = subprocess.run(
        ["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()
    flat = " ".join(text.split())
    # The press report leads with it, the money behind it and its actual ratio beside it.
    assert (
        "the $1,000.00 sent to it so far relieved $125,000.00 of medical debt for 212 people"
        in flat
    )
    assert "remitted for them, which relieved debt at 125:1" in flat


def test_a_report_dated_before_the_drive_is_refused(app):
    setup(app)
    with data(app) as session:
        make_user(session, "host@mm.org", "mid-missouri")
    response = SignedIn(app, "host@mm.org").post(
        "/treasurer/mid-missouri/partner-reports",
        {
            "drive": "1",
            "partner_reference": "UMD-1",
            "debt_abolished": "100",
            "people_helped": "1",
            "unit": "households",
            "reported_on": (date.today() - timedelta(days=400)).isoformat(),
        },
    )
    assert response.status_code == 400 and "before the drive started" in response.get_data(
        as_text=True
    )


def test_the_dashboard_shows_each_drive_and_month_from_the_ledger(app):
    treasurer = setup(app)
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        march = datetime(2026, 3, 14, 12, tzinfo=UTC)
        april = datetime(2026, 4, 2, 12, tzinfo=UTC)
        make_gift(session, drive, 10_000, chapter="st-louis", received_at=march)
        make_gift(session, drive, 2_500, chapter="st-louis", received_at=march)
        make_gift(session, drive, 4_000, chapter="st-louis", received_at=april)
        make_gift(session, drive, 99_900, chapter="kansas-city", received_at=april)
    page = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert figure(page, "net") == "$165.00"
    months = page.split('id="months-title"')[1]
    assert months.index("Apr 2026") < months.index("Mar 2026")
    march_row = months.split("Mar 2026")[1].split("</tr>")[0]
    april_row = months.split("Apr 2026")[1].split("</tr>")[0]
    assert "$125.00" in march_row and "$40.00" in april_row
    assert "$999.00" not in page  # Kansas City's gift is theirs
    drives_table = page.split('id="drives-title"')[1].split("</table>")[0]
    assert 'data-drive="mo-2026"' in drives_table and "$165.00" in drives_table


def test_a_mistaken_remittance_is_reversed_by_a_new_entry_once(app, today):
    treasurer = setup(app)
    with data(app) as session:
        make_gift(session, drives.get_drive(session, "mo-2026"), 60_000, chapter="st-louis")
    treasurer.post(
        "/treasurer/st-louis/remittances",
        {"drive": "1", "amount": "500", "sent_on": today.isoformat(), "reference": "ck 3001"},
    )
    with data(app) as session:
        from relief.models import Remittance

        remittance = session.exec(select(Remittance)).one()
    url = f"/treasurer/st-louis/remittances/{remittance.id}/reverse"
    assert treasurer.post(url, {"reason": ""}).status_code == 400
    assert treasurer.post(url, {"reason": "check was voided"}).status_code == 302
    _, mine = chapter_figures(app)
    assert mine.remitted_cents == 0 and mine.net_cents - mine.remitted_cents == 60_000
    again = treasurer.post(url, {"reason": "twice"})
    assert again.status_code == 409 and "already reversed" in again.get_data(as_text=True)
    with data(app) as session:
        entries = session.exec(select(Entry).where(Entry.kind == EntryKind.REMITTANCE)).all()
    assert [(e.amount_cents, e.reverses_id) for e in entries] == [
        (50_000, None),
        (-50_000, entries[0].id),
    ]
    page = treasurer.get("/treasurer/st-louis/remittances").get_data(as_text=True)
    assert "reversed: reversal of remittance ref ck 3001: check was voided" in page


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_remittance_reversed_twice_at_once_is_reversed_once_and_the_second_is_told(app):
    """Both requests find no reversal yet; the second waits on the first's lock, then finds
    the reversal's external id taken: a sentence, not a crash on a missing entry."""
    setup(app)
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        make_gift(session, drive, 60_000, chapter="st-louis")
        remittance = remittances.record_remittance(
            session,
            drives.get_chapter(session, "st-louis"),
            drive_id=drive.id,
            amount_cents=50_000,
            sent_on=date.today(),
            reference="ck 3001",
        )
        session.commit()
    engine = app.extensions["relief.engine"]
    with Session(engine) as first, Session(engine) as second, ThreadPoolExecutor(1) as pool:
        remittances.reverse_remittance(
            first, drives.get_chapter(first, "st-louis"), remittance.id, "check was voided"
        )
        late = pool.submit(
            remittances.reverse_remittance,
            second,
            drives.get_chapter(second, "st-louis"),
            remittance.id,
            "check was voided, said twice",
        )
        time.sleep(0.5)
        assert not late.done(), "the second reversal waits for the first"
        first.commit()
        with pytest.raises(Conflict, match="This remittance is already reversed."):
            late.result(timeout=30)
    with data(app) as session:
        reversals = session.exec(
            select(Entry).where(Entry.kind == EntryKind.REMITTANCE, Entry.amount_cents < 0)
        ).all()
    assert [e.memo for e in reversals] == ["reversal of remittance ref ck 3001: check was voided"]


def test_an_admin_assigns_a_gift_of_no_chapter_to_a_drive_and_chapter(app):
    setup(app)
    with data(app) as session:
        make_user(session, "admin@mo.org", admin=True)
        gift = unassigned_card_gift(session)
        gift.chapter_id = None  # the link named no chapter either
        session.commit()
        st_louis = drives.get_chapter(session, "st-louis").id
    admin = SignedIn(app, "admin@mo.org")
    listing = admin.get("/admin/unassigned").get_data(as_text=True)
    assert "$40.00" in listing and "Missouri Medical Debt Jubilee — St. Louis" in listing
    response = admin.post(f"/admin/unassigned/{gift.id}", {"target": f"1:{st_louis}"})
    assert response.status_code == 302, response.get_data(as_text=True)
    totals, mine = chapter_figures(app)
    assert mine.raised_cents == 4_000 and mine.fees_cents == 118
    assert "No gift is waiting" in admin.get("/admin/unassigned").get_data(as_text=True)


def test_every_treasurer_page_has_a_plain_title_and_one_close_month_form(app):
    import re

    treasurer = setup(app)
    pages = [
        "/treasurer/st-louis/",
        "/treasurer/st-louis/batches",
        "/treasurer/st-louis/gifts",
        "/treasurer/st-louis/remittances",
        "/treasurer/st-louis/partner-reports",
        "/treasurer/st-louis/payouts",
        "/treasurer/st-louis/bank",
    ]
    for path in pages:
        html = treasurer.get(path).get_data(as_text=True)
        title = re.search(r"<title>(.*?)</title>", html, re.S)[1]
        assert "<" not in title and len(title) < 120, (path, title[:200])
    dashboard = treasurer.get("/treasurer/st-louis/").get_data(as_text=True)
    assert dashboard.count('id="close-title"') == 1
