"""The organizer's workspace, as a chapter organizer uses it: start a drive, edit it (and see
the public page change at once), set the chapter's sub-goal, add a chapter, edit the
chapter's public page, read the supporters to thank them — never a donor's email. Bad input
gets a sentence beside the form, keeps what was typed and writes nothing; every change writes
the audit log."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from relief import drives, ledger
from relief.models import AuditEvent, Chapter, Drive, DriveChapter, utcnow
from relief.reports import press as reports_press
from tests.factories import make_coalition, make_gift
from tests.treasury_helpers import PASSWORD, SignedIn, csrf_token, data, make_user


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)))


def new_drive_form(**overrides) -> dict:
    """The new-drive form, starting the day it is filled in; a date given as a timedelta is
    that far from that day (so a parametrized case's date is read when it runs)."""
    today = date.today()
    form = {
        "title": "St. Louis Spring Jubilee",
        "slug": "stl-spring",
        # As a browser sends a textarea: CRLF line breaks.
        "story": "Medical debt follows families.\r\n\r\nWe can end some of it.",
        "goal": "5,000",
        "currency": "USD",
        "starts_on": today.isoformat(),
        "ends_on": (today + timedelta(days=60)).isoformat(),
        "chapter_goal": "2,000",
        "partner_name": "Undue Medical Debt",
        "target_region": "Missouri",
        "ratio": "120",
        "ratio_source": "Undue Medical Debt's letter to the coalition of March 2026",
        "ratio_as_of": "2026-03-01",
    }
    dates = {
        name: (today + value).isoformat()
        for name, value in overrides.items()
        if isinstance(value, timedelta)
    }
    return {**form, **overrides, **dates}


def edit_form(drive: Drive, **overrides) -> dict:
    form = {
        "title": drive.title,
        "story": drive.story,
        "goal": str(drive.goal_cents // 100),
        "currency": drive.currency,
        "ends_on": drive.ends_on.isoformat() if drive.ends_on else "",
        "partner_name": drive.partner_name,
        "target_region": drive.target_region or "",
        "ratio": str(drive.ratio_hundredths // 100),
        "ratio_source": drive.ratio_source,
        "ratio_as_of": drive.ratio_as_of.isoformat(),
    }
    return {**form, **overrides}


def audit_actions(app) -> list[tuple[str, str]]:
    with data(app) as session:
        rows = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
        return [(row.action, row.detail) for row in rows if not row.action.startswith("login")]


def drive_count(app) -> int:
    with data(app) as session:
        return session.exec(select(func.count()).select_from(Drive)).one()


@pytest.fixture
def coalition(app):
    with data(app) as session:
        drive = make_coalition(session)
        make_user(session, "o@stl.org", "st-louis", role="organizer")
        make_user(session, "o@kc.org", "kansas-city", role="organizer")
        make_user(session, "t@stl.org", "st-louis")
    return drive


def test_an_organizer_starts_a_drive_their_chapter_takes_part_in(app, coalition):
    organizer = SignedIn(app, "o@stl.org")
    response = organizer.post("/organize/st-louis/drives/new", data=new_drive_form())
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/organize/st-louis/drives/stl-spring/")

    with data(app) as session:
        drive = drives.get_drive(session, "stl-spring")
        assert (drive.goal_cents, drive.ratio_hundredths) == (500_000, 12_000)
        assert drive.ratio_source == "Undue Medical Debt's letter to the coalition of March 2026"
        assert drive.ratio_as_of == date(2026, 3, 1)
        assert drive.story == "Medical debt follows families.\n\nWe can end some of it."
        parts = {part.slug: part.goal_cents for part in ledger.totals(session, drive).chapters}
        assert parts == {"st-louis": 200_000}
    page = text_of(app.test_client().get("/drives/stl-spring"))
    assert "St. Louis Spring Jubilee" in page
    assert "120:1" in page and "letter to the coalition of March 2026" in page
    assert (
        "drive.create",
        "drive stl-spring “St. Louis Spring Jubilee”: goal $5,000.00, ratio 120:1; host st-louis",
    ) in audit_actions(app)
    # The chapter's home lists it with its figures and links to the public pages.
    home = organizer.get("/organize/st-louis/").get_data(as_text=True)
    assert 'href="/drives/stl-spring"' in home and 'href="/drives/stl-spring/st-louis"' in home


@pytest.mark.parametrize(
    "overrides, sentence",
    [
        ({"slug": "Not A Slug"}, "must be lowercase letters, digits and single hyphens"),
        ({"slug": "mo-2026"}, "A drive “mo-2026” exists already."),
        ({"ends_on": timedelta(days=-1)}, "The end date must not be before"),
        ({"goal": "ten dollars"}, "is not an amount"),
        ({"ratio": "lots"}, "Give the debt relieved per dollar as a number"),
        ({"ratio": "5000"}, "The relief ratio must be more than 0 and at most 1000"),
        ({"ratio_as_of": timedelta(days=3)}, "cannot be in the future"),
        ({"ratio_source": ""}, "Cite where the ratio comes from."),
    ],
)
def test_bad_input_on_a_new_drive_says_why_keeps_what_was_typed_and_writes_nothing(
    app, coalition, overrides, sentence
):
    organizer = SignedIn(app, "o@stl.org")
    before = drive_count(app)
    form = new_drive_form(**overrides)
    response = organizer.post("/organize/st-louis/drives/new", data=form)
    assert response.status_code in (400, 409)
    body = response.get_data(as_text=True)
    assert sentence in body.replace("&#34;", '"').replace("&#39;", "'")
    assert 'value="St. Louis Spring Jubilee"' in body  # what was typed is still there
    assert "letter to the coalition" in body or not form["ratio_source"]
    assert drive_count(app) == before
    assert audit_actions(app) == []


def test_an_edit_shows_on_the_next_request_of_the_cached_public_page(app, coalition):
    visitor = app.test_client()
    cache = app.extensions
    visitor.get("/drives/mo-2026")
    hits = cache["relief.responses"].hits
    assert "of $1,600.00 goal" in text_of(visitor.get("/drives/mo-2026"))
    assert cache["relief.responses"].hits == hits + 1  # the page is served from the cache

    organizer = SignedIn(app, "o@stl.org")
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
    response = organizer.post(
        "/organize/st-louis/drives/mo-2026/",
        data=edit_form(
            drive,
            goal="2,500",
            title="Missouri Jubilee 2026",
            ratio_source="Undue Medical Debt, annual report 2025, p. 4",
            ratio_as_of="2025-06-30",
        ),
    )
    assert response.status_code == 302

    page = text_of(visitor.get("/drives/mo-2026"))
    assert "of $2,500.00 goal" in page and "Missouri Jubilee 2026" in page
    assert "annual report 2025, p. 4 (stated June 2025)" in page
    assert visitor.get("/api/drives/mo-2026").get_json()["goal_cents"] == 250_000
    (action, detail), *_ = audit_actions(app)
    assert action == "drive.edit"
    assert "title: Missouri Medical Debt Jubilee → Missouri Jubilee 2026" in detail
    assert "goal: $1,600.00 → $2,500.00" in detail


def test_a_new_ratio_changes_every_projection_and_the_form_says_so(app, coalition):
    with data(app) as session:
        make_gift(session, coalition, 10_000, chapter="st-louis")
        drive = drives.get_drive(session, "mo-2026")
    organizer = SignedIn(app, "o@stl.org")
    form_page = text_of(organizer.get("/organize/st-louis/drives/mo-2026/"))
    assert "Changing the ratio changes every projection at once" in form_page
    assert "press PDF" in form_page
    api = app.test_client().get("/api/drives/mo-2026").get_json()
    assert api["projected_relief_cents"] == 1_000_000  # $100 × 100

    response = organizer.post(
        "/organize/st-louis/drives/mo-2026/", data=edit_form(drive, ratio="150")
    )
    assert response.status_code == 302
    follow = text_of(organizer.get(response.headers["Location"]))
    assert "Every projection (page, API, press PDF) now uses the new ratio." in follow
    api = app.test_client().get("/api/drives/mo-2026").get_json()
    assert api["projected_relief_cents"] == 1_500_000
    with data(app) as session:
        press = reports_press.build(session, "mo-2026", now=utcnow())
    assert (press.projected_relief_cents, press.ratio_text) == (1_500_000, "150:1")
    assert "about $15,000 of medical debt relieved" in text_of(
        app.test_client().get("/drives/mo-2026")
    )


def test_the_slug_never_changes_and_the_currency_locks_with_the_first_gift(
    app, coalition, monkeypatch
):
    organizer = SignedIn(app, "o@stl.org")
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
    # No gift yet: the currency may still change; the slug is never a field.
    page = organizer.get("/organize/st-louis/drives/mo-2026/").get_data(as_text=True)
    assert 'name="currency"' in page and 'name="slug"' not in page
    assert "Cannot change: it is in every shared link" in page
    response = organizer.post(
        "/organize/st-louis/drives/mo-2026/", data=edit_form(drive, slug="renamed")
    )
    assert response.status_code == 302
    assert app.test_client().get("/drives/mo-2026").status_code == 200

    with data(app) as session:
        make_gift(session, drive, 2_500, chapter="st-louis")
    page = organizer.get("/organize/st-louis/drives/mo-2026/").get_data(as_text=True)
    assert 'name="currency"' not in page
    assert "Cannot change: the drive has gifts, and every figure of its ledger is in USD." in page

    # Were another currency offered, the service still refuses it once the ledger has an entry.
    monkeypatch.setattr(drives, "CURRENCIES", ("USD", "EUR"))
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
        with pytest.raises(drives.InvalidInput, match="The currency cannot change"):
            drives.update_drive(
                session,
                drive,
                **{
                    "title": drive.title,
                    "story": drive.story,
                    "goal_cents": drive.goal_cents,
                    "ends_on": drive.ends_on,
                    "partner_name": drive.partner_name,
                    "target_region": drive.target_region,
                    "ratio_hundredths": drive.ratio_hundredths,
                    "ratio_source": drive.ratio_source,
                    "ratio_as_of": drive.ratio_as_of,
                    "currency": "EUR",
                },
            )


def test_a_refused_edit_keeps_what_was_typed_and_changes_nothing(app, coalition, today):
    organizer = SignedIn(app, "o@stl.org")
    with data(app) as session:
        drive = drives.get_drive(session, "mo-2026")
    response = organizer.post(
        "/organize/st-louis/drives/mo-2026/",
        data=edit_form(
            drive, title="A new title", ends_on=(today - timedelta(days=30)).isoformat()
        ),
    )
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert "The end date must not be before the start date" in body
    assert 'value="A new title"' in body
    with data(app) as session:
        assert drives.get_drive(session, "mo-2026").title == "Missouri Medical Debt Jubilee"
    assert audit_actions(app) == []


def test_an_organizer_sets_their_own_chapters_sub_goal_only(app, coalition):
    organizer = SignedIn(app, "o@stl.org")
    response = organizer.post("/organize/st-louis/drives/mo-2026/goal", data={"sub_goal": "700"})
    assert response.status_code == 302
    refused = organizer.post("/organize/st-louis/drives/mo-2026/goal", data={"sub_goal": "99,000"})
    assert refused.status_code == 400
    assert (
        "The sub-goal must be at most the whole drive&#39;s goal ($1,600.00)."
        in refused.get_data(as_text=True)
    )
    # Kansas City's organizer cannot reach St. Louis's sub-goal by any URL.
    other = SignedIn(app, "o@kc.org")
    assert (
        other.post("/organize/st-louis/drives/mo-2026/goal", data={"sub_goal": "1"}).status_code
        == 404
    )
    with data(app) as session:
        goals = {
            part.slug: part.goal_cents
            for part in ledger.totals(session, drives.get_drive(session, "mo-2026")).chapters
        }
    assert goals == {"st-louis": 70_000, "kansas-city": None, "mid-missouri": None}
    # A blank sub-goal removes it.
    assert (
        organizer.post("/organize/st-louis/drives/mo-2026/goal", data={"sub_goal": ""}).status_code
        == 302
    )
    with data(app) as session:
        chapter = drives.get_chapter(session, "st-louis")
        assert session.get(DriveChapter, (coalition.id, chapter.id)).goal_cents is None
    assert [a for a, _ in audit_actions(app)] == ["drive.chapter_goal", "drive.chapter_goal"]


def test_an_organizer_adds_another_chapter_whose_organizers_then_see_the_drive(app, coalition):
    organizer = SignedIn(app, "o@stl.org")
    assert organizer.post("/organize/st-louis/drives/new", data=new_drive_form()).status_code == 302
    kansas_city = SignedIn(app, "o@kc.org")
    assert kansas_city.get("/organize/kansas-city/drives/stl-spring/").status_code == 404

    response = organizer.post(
        "/organize/st-louis/drives/stl-spring/chapters", data={"chapter": "kansas-city"}
    )
    assert response.status_code == 302
    assert kansas_city.get("/organize/kansas-city/drives/stl-spring/").status_code == 200
    assert app.test_client().get("/drives/stl-spring/kansas-city").status_code == 200
    # Already in: refused with a sentence (and the select no longer offers it).
    again = organizer.post(
        "/organize/st-louis/drives/stl-spring/chapters", data={"chapter": "kansas-city"}
    )
    assert again.status_code == 400
    assert "Choose a chapter that does not take part yet." in again.get_data(as_text=True)
    assert ("drive.chapter_add", "drive stl-spring: kansas-city takes part") in audit_actions(app)


def test_the_chapters_public_details_show_on_its_cached_page_at_once(app, coalition):
    visitor = app.test_client()
    visitor.get("/drives/mo-2026/st-louis")
    hits = app.extensions["relief.responses"].hits
    assert "Meet us" not in text_of(visitor.get("/drives/mo-2026/st-louis"))
    assert app.extensions["relief.responses"].hits == hits + 1  # served from the cache

    organizer = SignedIn(app, "o@stl.org")
    response = organizer.post(
        "/organize/st-louis/page",
        data={
            "name": "St. Louis Metro",
            "region": "MO/IL",
            "blurb": "Meet us every second Tuesday at the library.",
        },
    )
    assert response.status_code == 302
    page = text_of(visitor.get("/drives/mo-2026/st-louis"))
    assert "St. Louis Metro chapter (MO/IL)" in page
    assert "Meet us every second Tuesday at the library." in page
    assert "St. Louis Metro" in text_of(visitor.get("/drives/mo-2026"))  # the leaderboard too
    (action, detail), *_ = audit_actions(app)
    assert action == "chapter.edit"
    assert (
        detail
        == "chapter st-louis: name: St. Louis → St. Louis Metro; region: MO → MO/IL; blurb edited"
    )

    too_long = organizer.post(
        "/organize/st-louis/page", data={"name": "", "region": "MO", "blurb": "x" * 501}
    )
    assert too_long.status_code == 400
    with data(app) as session:
        assert session.exec(select(Chapter.name).where(Chapter.slug == "st-louis")).one() == (
            "St. Louis Metro"
        )


def test_supporters_show_real_names_and_messages_to_thank_people_never_emails(app, coalition):
    with data(app) as session:
        make_gift(
            session,
            coalition,
            5_000,
            chapter="st-louis",
            donor_name="Ana Public",
            show_name=True,
            donor_email="ana.public@example.org",
        )
        gift = make_gift(
            session,
            coalition,
            7_500,
            chapter="st-louis",
            donor_name="Bo Private",
            show_name=False,
            donor_email="bo.private@example.org",
        )
        gift.message = "For my mother's hospital bills."
        session.add(gift)
        session.commit()
        make_gift(
            session,
            coalition,
            1_000,
            chapter="kansas-city",
            donor_name="Cy Elsewhere",
            donor_email="cy@example.org",
        )
    organizer = SignedIn(app, "o@stl.org")
    page = text_of(organizer.get("/organize/st-louis/supporters"))
    assert "Ana Public" in page and "$50.00" in page
    assert "Bo Private anonymous to the public" in page and "$75.00" in page
    assert "For my mother's hospital bills." in page.replace("&#39;", "'")
    assert "Missouri Medical Debt Jubilee" in page
    assert "Cy Elsewhere" not in page  # another chapter's donor
    # The public page keeps Bo anonymous and the message private.
    public = text_of(app.test_client().get("/drives/mo-2026"))
    assert "Bo Private" not in public and "hospital bills" not in public

    # No organizer page, of any kind, carries an email address but the organizer's own.
    for path in (
        "/organize/",
        "/organize/st-louis/",
        "/organize/st-louis/supporters",
        "/organize/st-louis/drives/new",
        "/organize/st-louis/drives/mo-2026/",
        "/organize/st-louis/page",
    ):
        body = organizer.get(path).get_data(as_text=True)
        emails = set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", body)) - {"o@stl.org"}
        assert not emails, f"{path} shows {emails}"


def test_sign_in_takes_an_organizer_to_their_chapters_and_a_treasurer_to_the_treasury(
    app, coalition
):
    def landing(email):
        client = app.test_client()
        response = client.post(
            "/login",
            data={"csrf_token": csrf_token(client), "email": email, "password": PASSWORD},
        )
        return response.headers["Location"]

    assert landing("o@stl.org") == "/organize/"
    assert landing("t@stl.org") == "/treasurer/"
    page = SignedIn(app, "o@stl.org").get("/organize/").get_data(as_text=True)
    assert 'href="/organize/st-louis/"' in page and "kansas-city" not in page


def test_someone_with_both_workspaces_can_switch_between_them(app, coalition):
    with data(app) as session:
        make_user(session, "o@stl.org", "kansas-city")  # also Kansas City's treasurer
    both = SignedIn(app, "o@stl.org")
    for path in ("/organize/", "/treasurer/"):
        nav = both.get(path).get_data(as_text=True)
        assert 'aria-label="Workspaces"' in nav
        assert 'href="/treasurer/"' in nav and 'href="/organize/"' in nav
    only = SignedIn(app, "o@kc.org").get("/organize/").get_data(as_text=True)
    assert 'aria-label="Workspaces"' not in only


def test_the_cli_cites_the_ratios_source(app, runner):
    with data(app) as session:
        drives.create_chapter(session, "st-louis", "St. Louis", "MO")
        session.commit()
    result = runner.invoke(
        args=[
            "drive",
            "add",
            "stl-2027",
            "--title",
            "STL 2027",
            "--goal",
            "1000",
            "--chapters",
            "st-louis",
            "--ratio",
            "90",
            "--ratio-source",
            "Partner's letter of May 2026",
            "--ratio-as-of",
            "2026-05-01",
        ]
    )
    assert result.exit_code == 0, result.output
    with data(app) as session:
        drive = drives.get_drive(session, "stl-2027")
        assert (drive.ratio_source, drive.ratio_as_of, drive.ratio_hundredths) == (
            "Partner's letter of May 2026",
            date(2026, 5, 1),
            9_000,
        )
    bad = runner.invoke(
        args=[
            "drive",
            "add",
            "x",
            "--title",
            "X",
            "--goal",
            "1",
            "--chapters",
            "st-louis",
            "--ratio-as-of",
            "someday",
        ]
    )
    assert bad.exit_code != 0 and "is not a date" in bad.output


def test_supporters_narrow_to_one_drive_and_page_back_in_order(app, coalition):
    from relief.organize import workspace

    with data(app) as session:
        drives.create_drive(
            session,
            slug="stl-spring",
            title="St. Louis Spring",
            goal_cents=100_000,
            chapter_slugs=["st-louis"],
        )
        drives.create_drive(
            session,
            slug="kc-only",
            title="KC alone",
            goal_cents=100_000,
            chapter_slugs=["kansas-city"],
        )
        session.commit()
        spring = drives.get_drive(session, "stl-spring")
        for number in range(3):
            make_gift(
                session,
                coalition,
                1_000 + number,
                chapter="st-louis",
                donor_name=f"Jubilee {number}",
            )
        make_gift(session, spring, 4_200, chapter="st-louis", donor_name="Spring Donor")

    organizer = SignedIn(app, "o@stl.org")
    page = text_of(organizer.get("/organize/st-louis/supporters?drive=stl-spring"))
    assert "Spring Donor" in page and "Jubilee 0" not in page
    everything = text_of(organizer.get("/organize/st-louis/supporters"))
    assert "Spring Donor" in everything and "Jubilee 2" in everything
    # A drive St. Louis does not take part in is a 404, like one that does not exist.
    assert organizer.get("/organize/st-louis/supporters?drive=kc-only").status_code == 404

    with data(app) as session:
        chapter = drives.get_chapter(session, "st-louis")
        first = workspace.supporters(session, chapter, page=1, per_page=3)
        second = workspace.supporters(session, chapter, page=2, per_page=3)
    assert first.has_more and not second.has_more
    names = [line.donor_name for line in first.lines + second.lines]
    assert sorted(names) == ["Jubilee 0", "Jubilee 1", "Jubilee 2", "Spring Donor"]
    assert len(set(names)) == 4  # no gift on two pages
