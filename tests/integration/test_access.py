"""Chapter isolation, proved by a table: every treasurer and admin route (from app.url_map) is
requested signed out, as another chapter's treasurer (by its URL and by ids of this chapter's
objects under their own chapter's URL), as this chapter's organizer, as its treasurer and as a
coalition admin. Every organizer route (/organize) likewise, as another chapter's organizer,
this chapter's treasurer, its organizer and an admin. A route missing from the tables fails
the test."""

from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from relief import auth, drives, matches
from relief.models import (
    AuditEvent,
    Entry,
    Gift,
    GiftMethod,
    GiftStatus,
    Job,
    JobStatus,
    MatchCounts,
    MemberPage,
    Payout,
    PayoutTransaction,
    User,
    utcnow,
)
from relief.treasury import batches, gifts, remittances
from tests.factories import make_coalition, make_gift, make_partner_report
from tests.treasury_helpers import SignedIn, csrf_token, data, make_user

#: (endpoint, method) → (URL arguments as a function of this role's objects, the status the
#: chapter's own treasurer and an admin get). POSTs send an empty form (with the CSRF token):
#: getting past the guard shows as a form error (400) or the service's refusal (409).
ROUTES = {
    ("treasurer.chapter_dashboard", "GET"): (lambda o: {}, 200),
    ("treasurer.batch_list", "GET"): (lambda o: {}, 200),
    ("treasurer.batch_list", "POST"): (lambda o: {}, 400),
    ("treasurer.batch_page", "GET"): (lambda o: {"batch_id": o["batch"]}, 200),
    ("treasurer.batch_add_line", "POST"): (lambda o: {"batch_id": o["batch"]}, 400),
    ("treasurer.batch_remove_line", "POST"): (
        lambda o: {"batch_id": o["batch"], "line_id": o["line"]},
        302,
    ),
    ("treasurer.batch_import", "POST"): (lambda o: {"batch_id": o["batch"]}, 400),
    ("treasurer.batch_custody", "POST"): (lambda o: {"batch_id": o["batch"]}, 302),
    ("treasurer.batch_post", "POST"): (lambda o: {"batch_id": o["batch"]}, 409),
    ("treasurer.gift_list", "GET"): (lambda o: {}, 200),
    ("treasurer.gift_page", "GET"): (lambda o: {"gift_id": o["gift"]}, 200),
    ("treasurer.gift_correct", "POST"): (lambda o: {"gift_id": o["gift"]}, 400),
    ("treasurer.direct_gift", "GET"): (lambda o: {}, 200),
    ("treasurer.direct_gift", "POST"): (lambda o: {}, 400),
    ("treasurer.unassigned", "GET"): (lambda o: {}, 200),
    ("treasurer.assign", "POST"): (lambda o: {"gift_id": o["unassigned"]}, 400),
    ("treasurer.remittance_list", "GET"): (lambda o: {}, 200),
    ("treasurer.remittance_list", "POST"): (lambda o: {}, 400),
    ("treasurer.remittance_reverse", "POST"): (lambda o: {"remittance_id": o["remittance"]}, 400),
    ("treasurer.partner_report_list", "GET"): (lambda o: {}, 200),
    ("treasurer.partner_report_list", "POST"): (lambda o: {}, 400),
    ("treasurer.partner_report_correct", "GET"): (lambda o: {"report_id": o["report"]}, 200),
    ("treasurer.partner_report_correct", "POST"): (lambda o: {"report_id": o["report"]}, 400),
    ("treasurer.partner_report_withdraw", "POST"): (lambda o: {"report_id": o["report"]}, 400),
    ("treasurer.export_page", "GET"): (lambda o: {}, 200),
    ("treasurer.ledger_csv", "GET"): (lambda o: {}, 200),
    ("treasurer.donors_csv", "GET"): (lambda o: {}, 200),
    ("treasurer.journal_csv", "GET"): (lambda o: {}, 200),
    ("treasurer.quickbooks_csv", "GET"): (lambda o: {}, 200),
    ("treasurer.xero_csv", "GET"): (lambda o: {}, 200),
    ("treasurer.attribution_page", "GET"): (lambda o: {}, 200),
    ("treasurer.month_close", "POST"): (lambda o: {}, 400),
    ("treasurer.payout_list", "GET"): (lambda o: {}, 200),
    ("treasurer.payout_page", "GET"): (lambda o: {"payout_id": o["payout"]}, 200),
    # Test mode: "nothing to sync", back to the payouts.
    ("treasurer.payout_sync", "POST"): (lambda o: {}, 302),
    ("treasurer.bank_import", "GET"): (lambda o: {}, 200),
    ("treasurer.bank_import", "POST"): (lambda o: {}, 400),
    # This month's report, the month read when the route is requested.
    ("treasurer.monthly_report", "GET"): (lambda o: {"month": f"{date.today():%Y-%m}"}, 200),
    ("treasurer.match_list", "GET"): (lambda o: {}, 200),
    ("treasurer.match_payment", "POST"): (lambda o: {"pledge_id": o["pledge"]}, 400),
}
#: Routes outside any chapter: URL arguments, and what each kind of user gets.
EVERYONE = {"treasurer": 200, "other": 200, "organizer": 200, "admin": 200}
ADMINS = {"treasurer": 404, "other": 404, "organizer": 404, "admin": 200}
OUTSIDE = {
    ("treasurer.index", "GET"): (lambda o: {}, EVERYONE),
    ("admin.audit_log", "GET"): (lambda o: {}, ADMINS),
    ("admin.unassigned", "GET"): (lambda o: {}, ADMINS),
    ("admin.assign", "POST"): (lambda o: {"gift_id": o["unclaimed"]}, {**ADMINS, "admin": 400}),
    # An event that is not held: nothing to run, for anyone.
    ("admin.run_held_event", "POST"): (
        lambda o: {"event_id": "evt_not_held"},
        {**ADMINS, "admin": 404},
    ),
    ("admin.drive_list", "GET"): (lambda o: {}, ADMINS),
    ("admin.drive_host", "POST"): (lambda o: {"slug": "mo-2026"}, {**ADMINS, "admin": 400}),
    ("admin.outbox_page", "GET"): (lambda o: {}, ADMINS),
    # A failed job, queued again: back to the outbox.
    ("admin.outbox_retry", "POST"): (lambda o: {"job_id": o["job"]}, {**ADMINS, "admin": 302}),
    ("organizer.index", "GET"): (lambda o: {}, EVERYONE),
    # Accounts and chapters: an empty form is refused (400); removing an account needs no
    # field (302, back to the list).
    ("admin.account_list", "GET"): (lambda o: {}, ADMINS),
    ("admin.invite", "POST"): (lambda o: {}, {**ADMINS, "admin": 400}),
    ("admin.account_role", "POST"): (lambda o: {"user_id": o["account"]}, {**ADMINS, "admin": 400}),
    ("admin.account_remove", "POST"): (
        lambda o: {"user_id": o["account"]},
        {**ADMINS, "admin": 302},
    ),
    ("admin.chapter_create", "POST"): (lambda o: {}, {**ADMINS, "admin": 400}),
    ("admin.account_two_factor_off", "POST"): (
        lambda o: {"user_id": o["enrolled"]},
        {**ADMINS, "admin": 302},
    ),
    ("admin.organization_page", "GET"): (lambda o: {}, ADMINS),
    ("admin.organization_save", "POST"): (lambda o: {}, {**ADMINS, "admin": 302}),
    # The chart of accounts: an empty form is refused (every account needs a name).
    ("admin.chart_page", "GET"): (lambda o: {}, ADMINS),
    ("admin.chart_page_save", "POST"): (lambda o: {}, {**ADMINS, "admin": 400}),
}
#: The organizer's routes, as ROUTES: (URL arguments, the status the chapter's own organizer
#: and an admin get). ``slug`` is a drive only this chapter takes part in. An empty sub-goal is
#: valid (it clears the sub-goal): 302.
ORGANIZE_ROUTES = {
    ("organizer.chapter_home", "GET"): (lambda o: {}, 200),
    ("organizer.drive_new", "GET"): (lambda o: {}, 200),
    ("organizer.drive_new", "POST"): (lambda o: {}, 400),
    ("organizer.drive_page", "GET"): (lambda o: {"slug": o["drive"]}, 200),
    ("organizer.drive_edit", "POST"): (lambda o: {"slug": o["drive"]}, 400),
    ("organizer.chapter_goal", "POST"): (lambda o: {"slug": o["drive"]}, 302),
    ("organizer.drive_add_chapter", "POST"): (lambda o: {"slug": o["drive"]}, 400),
    ("organizer.drive_embed_origins", "POST"): (lambda o: {"slug": o["drive"]}, 302),
    ("organizer.drive_image", "POST"): (lambda o: {"slug": o["drive"]}, 400),
    ("organizer.drive_image_remove", "POST"): (lambda o: {"slug": o["drive"]}, 302),
    ("organizer.chapter_page", "GET"): (lambda o: {}, 200),
    ("organizer.chapter_page", "POST"): (lambda o: {}, 400),
    ("organizer.supporters", "GET"): (lambda o: {}, 200),
    ("organizer.drive_attribution", "GET"): (lambda o: {"slug": o["drive"]}, 200),
    ("organizer.match_list", "GET"): (lambda o: {"slug": o["drive"]}, 200),
    ("organizer.match_new", "POST"): (lambda o: {"slug": o["drive"]}, 400),
    ("organizer.match_edit", "GET"): (
        lambda o: {"slug": o["drive"], "pledge_id": o.get("pledge", 1)},
        200,
    ),
    ("organizer.match_edit", "POST"): (
        lambda o: {"slug": o["drive"], "pledge_id": o.get("pledge", 1)},
        400,
    ),
    # The pledge starts tomorrow: it cannot be ended early (409, for both).
    ("organizer.match_end", "POST"): (
        lambda o: {"slug": o["drive"], "pledge_id": o.get("pledge", 1)},
        409,
    ),
    ("organizer.match_withdraw", "POST"): (
        lambda o: {"slug": o["drive"], "pledge_id": o.get("pledge", 1)},
        400,
    ),
    ("organizer.members_list", "GET"): (lambda o: {}, 200),
    # A member's page of this chapter (written, so it can be approved); hiding needs a reason.
    ("organizer.member_approve", "POST"): (lambda o: {"member_id": o.get("member", 1)}, 302),
    ("organizer.member_hide", "POST"): (lambda o: {"member_id": o.get("member", 1)}, 400),
}


def guarded_routes(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/treasurer", "/admin", "/organize")):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule, method


def objects_of(session, drive, chapter_slug):
    """A batch with a line, a posted gift and an unassigned gift of the chapter."""

    chapter = drives.get_chapter(session, chapter_slug)
    batch = batches.open_batch(
        session,
        chapter,
        drive_id=drive.id,
        label="Potluck",
        expected_count=3,
        expected_total_cents=3000,
    )
    line = batches.add_line(
        session, chapter, batch.id, batches.LineInput(amount="10", received=date.today())
    )
    gift = make_gift(session, drive, 1000, chapter=chapter_slug)
    remittance = remittances.record_remittance(
        session,
        chapter,
        drive_id=drive.id,
        amount_cents=100,
        sent_on=date.today(),
        reference=f"check {batch.id}",
    )
    # A partner's report on a drive of the chapter alone (the host of its drive's reports).
    own_drive = drives.create_drive(
        session,
        slug=f"{chapter_slug}-{batch.id}",
        title="Its own drive",
        goal_cents=10_000,
        chapter_slugs=[chapter_slug],
    )
    make_gift(session, own_drive, 1000, chapter=chapter_slug)
    # A sponsor's pledge on it: its payment is the chapter's to record (the drive's host).
    pledge = _pledge(session, chapter, own_drive)
    admin = auth.add_user(
        session, f"host-{batch.id}@example.org", "correct horse battery staple", admin=True
    )
    paid, report = make_partner_report(
        session, chapter, own_drive, admin, sent_cents=100,
        reference=f"partner check {batch.id}", partner_reference="UMD-1",
        debt_abolished_cents=10_000, people_helped=1,
    )  # fmt: skip
    # As the Stripe webhook leaves a paid gift whose drive it could not tell.
    unassigned = Gift(
        drive_id=None,
        chapter_id=chapter.id,
        amount_cents=700,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        received_at=utcnow(),
    )
    # And one that names no chapter either: only admins see it.
    unclaimed = Gift(
        drive_id=None,
        chapter_id=None,
        amount_cents=900,
        method=GiftMethod.CARD,
        status=GiftStatus.PAID,
        received_at=utcnow(),
    )
    session.add_all([unassigned, unclaimed])
    session.flush()
    # A Stripe payout carrying the chapter's gift (so only this chapter, and admins, see it).
    gift.stripe_charge_id = f"ch_access_{gift.id}"
    payout = Payout(
        stripe_id=f"po_access_{gift.id}",
        amount_cents=970,
        status="paid",
        arrival_date=date.today(),
        created=utcnow(),
        transactions_complete=True,
    )
    session.add(payout)
    session.flush()
    session.add(
        PayoutTransaction(
            stripe_id=f"txn_access_{gift.id}",
            payout_id=payout.id,
            type="charge",
            charge_id=gift.stripe_charge_id,
            amount_cents=1000,
            fee_cents=30,
            net_cents=970,
            created=utcnow(),
            gift_id=gift.id,
            chapter_id=chapter.id,
        )
    )
    failed = Job(
        kind="mail",
        key=f"receipt:gift:{gift.id}",
        status=JobStatus.FAILED,
        attempts=1,
        last_error="The mail server refused the address for good (550 no such user).",
    )
    session.add(failed)
    # An account of no role, for the admin's account routes (removing it answers 302).
    account = User(email=f"account-{gift.id}@example.org", password_hash="!")
    session.add(account)
    # One with two-factor sign-in, for the admin's reset (answers 302).
    enrolled = User(
        email=f"enrolled-{gift.id}@example.org", password_hash="!", totp_secret="JBSWY3DPEHPK3PXP"
    )
    session.add(enrolled)
    session.commit()
    assert gifts.unassigned(session, chapter)
    return {
        "batch": batch.id,
        "line": line.id,
        "gift": gift.id,
        "unassigned": unassigned.id,
        "unclaimed": unclaimed.id,
        "remittance": remittance.id,
        "payout": payout.id,
        "report": report.id,
        "job": failed.id,
        "account": account.id,
        "enrolled": enrolled.id,
        "pledge": pledge.id,
    }


def _pledge(session, chapter, drive):
    """A sponsor's 1:1 pledge on the drive, starting tomorrow."""
    tomorrow = date.today() + timedelta(days=1)
    return matches.create_pledge(
        session,
        chapter,
        drive,
        matches.PledgeTerms(
            sponsor_name="Acme Health",
            ratio="1:1",
            cap_cents=100_000,
            starts_on=tomorrow,
            ends_on=tomorrow + timedelta(days=7),
            counts=MatchCounts.ONLINE,
        ),
    )


class SignedOut:
    """A visitor with a valid CSRF token (from the sign-in page) but no account."""

    def __init__(self, app):
        self.client = app.test_client()
        self.token = csrf_token(self.client)

    def get(self, url):
        return self.client.get(url)

    def post(self, url):
        return self.client.post(url, data={"csrf_token": self.token})


def request(client, method, url):
    if method == "GET":
        return client.get(url)
    return client.post(url)


def test_every_treasurer_route_is_in_the_table(app):
    seen = {(rule.endpoint, method) for rule, method in guarded_routes(app)}
    missing = seen - set(ROUTES) - set(OUTSIDE) - set(ORGANIZE_ROUTES)
    assert not missing, f"guarded routes missing from the access tables: {sorted(missing)}"
    stale = (set(ROUTES) | set(OUTSIDE) | set(ORGANIZE_ROUTES)) - seen
    assert not stale, f"routes in the table that no longer exist: {sorted(stale)}"


def test_only_the_chapters_treasurer_and_admins_reach_its_treasury(app):
    with data(app) as session:
        drive = make_coalition(session)
        own = objects_of(session, drive, "st-louis")
        for_admin = objects_of(session, drive, "st-louis")
        objects_of(session, drive, "kansas-city")
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "t@kc.org", "kansas-city")
        make_user(session, "o@stl.org", "st-louis", role="organizer")
        make_user(session, "admin@mo.org", admin=True)
    anonymous = SignedOut(app)
    users = {
        "treasurer": SignedIn(app, "t@stl.org"),
        "other": SignedIn(app, "t@kc.org"),
        "organizer": SignedIn(app, "o@stl.org"),
        "admin": SignedIn(app, "admin@mo.org"),
    }
    checked = 0
    for rule, method in guarded_routes(app):
        key = (rule.endpoint, method)
        if key in ORGANIZE_ROUTES:
            continue  # walked by the organizer's test below
        if key in OUTSIDE:
            arguments, expectations = OUTSIDE[key]
            url = rule.build(arguments(own))[1]
            response = request(anonymous, method, url)
            assert response.status_code == 302 and "/login" in response.headers["Location"]
            for role, expected in expectations.items():
                got = request(users[role], method, url).status_code
                assert got == expected, f"{role} {method} {url}: {got}"
            checked += 1
            continue
        arguments, own_status = ROUTES[key]
        build = rule.build

        def url_for(chapter, objects, build=build, arguments=arguments):
            return build({"chapter": chapter, **arguments(objects)})[1]

        target = url_for("st-louis", own)
        response = request(anonymous, method, target)
        assert response.status_code == 302, f"anonymous {method} {target}"
        assert "/login" in response.headers["Location"]
        # Another chapter's treasurer: this chapter's URL, and this chapter's ids under theirs.
        for url in {target, url_for("kansas-city", own)}:
            got = request(users["other"], method, url)
            if url == url_for("kansas-city", own) and url != target and "<int:" not in rule.rule:
                continue  # their own page without ids: not this chapter's
            assert got.status_code == 404, f"other chapter {method} {url}: {got.status_code}"
            assert "St. Louis" not in got.get_data(as_text=True)
        got = request(users["organizer"], method, target).status_code
        assert got == 404, f"organizer {method} {target}: {got}"
        got = request(users["treasurer"], method, target).status_code
        assert got == own_status, f"treasurer {method} {target}: {got}"
        admin_target = url_for("st-louis", for_admin)
        got = request(users["admin"], method, admin_target).status_code
        assert got == own_status, f"admin {method} {admin_target}: {got}"
        checked += 1
    assert checked == len(ROUTES) + len(OUTSIDE)


def test_only_the_chapters_organizers_and_admins_reach_its_organizing(app):

    with data(app) as session:
        make_coalition(session)
        drives.create_drive(
            session,
            slug="stl-only",
            title="St. Louis alone",
            goal_cents=10_000,
            chapter_slugs=["st-louis"],
        )
        make_gift(
            session,
            drives.get_drive(session, "stl-only"),
            1000,
            chapter="st-louis",
            donor_name="Stl Donor",
        )
        make_user(session, "o@stl.org", "st-louis", role="organizer")
        make_user(session, "o@kc.org", "kansas-city", role="organizer")
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "admin@mo.org", admin=True)
    with data(app) as session:
        stl_only = drives.get_drive(session, "stl-only")
        pledge = _pledge(session, drives.get_chapter(session, "st-louis"), stl_only)
        session.commit()
        member = MemberPage(
            drive_id=drives.get_drive(session, "stl-only").id,
            chapter_id=drives.get_chapter(session, "st-louis").id,
            name="ana-b",
            display_name="Ana B.",
            email="ana@example.org",
            email_key="ana@example.org",
            story="Why I give.",
            goal_cents=10_000,
        )
        session.add(member)
        session.commit()
        member_id = member.id
    own = {"drive": "stl-only", "pledge": pledge.id, "member": member_id}
    anonymous = SignedOut(app)
    users = {
        "organizer": SignedIn(app, "o@stl.org"),
        "other": SignedIn(app, "o@kc.org"),
        "treasurer": SignedIn(app, "t@stl.org"),
        "admin": SignedIn(app, "admin@mo.org"),
    }
    checked = 0
    for rule, method in guarded_routes(app):
        key = (rule.endpoint, method)
        if key not in ORGANIZE_ROUTES:
            continue
        arguments, own_status = ORGANIZE_ROUTES[key]
        target = rule.build({"chapter": "st-louis", **arguments(own)})[1]
        response = request(anonymous, method, target)
        assert response.status_code == 302, f"anonymous {method} {target}"
        assert "/login" in response.headers["Location"]
        # Another chapter's organizer: this chapter's URL, and this chapter's drive under theirs.
        urls = {target}
        if "<slug>" in rule.rule:
            urls.add(rule.build({"chapter": "kansas-city", **arguments(own)})[1])
        for url in urls:
            got = request(users["other"], method, url)
            assert got.status_code == 404, f"other organizer {method} {url}: {got.status_code}"
            body = got.get_data(as_text=True)
            assert "St. Louis" not in body and "Stl Donor" not in body
        got = request(users["treasurer"], method, target).status_code
        assert got == 404, f"treasurer {method} {target}: {got}"
        for role in ("organizer", "admin"):
            got = request(users[role], method, target).status_code
            assert got == own_status, f"{role} {method} {target}: {got}"
        checked += 1
    assert checked == len(ORGANIZE_ROUTES)


def test_the_chapter_list_shows_only_my_chapters(app):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@kc.org", "kansas-city")
    page = SignedIn(app, "t@kc.org").get("/treasurer/").get_data(as_text=True)
    assert "Kansas City" in page and "St. Louis" not in page and "Mid-Missouri" not in page


@pytest.mark.parametrize("path", ["/treasurer/no-such-chapter/", "/treasurer/st-louis/gifts/99999"])
def test_a_missing_chapter_or_object_looks_like_anothers(app, path):
    with data(app) as session:
        make_coalition(session)
        make_user(session, "t@kc.org", "kansas-city")
    assert SignedIn(app, "t@kc.org").get(path).status_code == 404


def _written(app) -> tuple[int, int]:
    with data(app) as session:
        return (
            session.exec(select(func.count()).select_from(AuditEvent)).one(),
            session.exec(select(func.count()).select_from(Entry)).one(),
        )


def test_a_refused_post_keeps_nothing(app):
    """Every POST the tables expect refused — another chapter's 404, an empty form's 400, the
    service's 409 — is rolled back whole: no audit line and no ledger entry stays behind (the
    unit of work commits only answers below 400; no view or guard commits on its own)."""
    with data(app) as session:
        drive = make_coalition(session)
        own = objects_of(session, drive, "st-louis")
        make_user(session, "t@stl.org", "st-louis")
        make_user(session, "t@kc.org", "kansas-city")
        make_user(session, "o@kc.org", "kansas-city", role="organizer")
        make_user(session, "admin@mo.org", admin=True)
    treasurer, other = SignedIn(app, "t@stl.org"), SignedIn(app, "t@kc.org")
    other_organizer, admin = SignedIn(app, "o@kc.org"), SignedIn(app, "admin@mo.org")
    before = _written(app)
    refused = 0
    for rule, method in guarded_routes(app):
        key = (rule.endpoint, method)
        if method != "POST":
            continue
        if key in ROUTES:
            arguments, own_status = ROUTES[key]
            url = rule.build({"chapter": "st-louis", **arguments(own)})[1]
            assert other.post(url).status_code == 404, url
            refused += 1
            if own_status >= 400:
                assert treasurer.post(url).status_code == own_status, url
                refused += 1
        elif key in ORGANIZE_ROUTES:
            url = rule.build({"chapter": "st-louis", **ORGANIZE_ROUTES[key][0]({"drive": "x"})})[1]
            assert other_organizer.post(url).status_code == 404, url
            refused += 1
        else:
            arguments, expectations = OUTSIDE[key]
            url = rule.build(arguments(own))[1]
            assert treasurer.post(url).status_code == 404, url
            refused += 1
            if expectations["admin"] >= 400:
                assert admin.post(url).status_code == expectations["admin"], url
                refused += 1
    assert refused > 20
    assert _written(app) == before
