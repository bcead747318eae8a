"""A cached drive page is keyed on what the page reads: the pages read no table the key does
not cover, and a change to any column of the rows they read shows on the next request, even
written around the app (no change counter, no ledger entry)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Boolean, Date, DateTime, Enum, Integer, String, Table, event, select, update
from sqlalchemy.sql.elements import TextClause
from sqlalchemy.sql.util import find_tables
from sqlalchemy.types import TypeDecorator

from relief import drive_images, drive_pages, drives, ledger, matches
from relief.models import (
    Chapter,
    Drive,
    DriveChapter,
    MatchCounts,
    MatchPledge,
    MemberPage,
    PartnerReport,
    PartnerReportRemittance,
)
from relief.pagecache import state
from tests.conftest import make_app
from tests.factories import make_coalition, make_gift, make_partner_report
from tests.treasury_helpers import make_user

#: The answers a drive's state keys: the drive page, a chapter's side of it, the API answer.
ANSWERS = (
    "/drives/mo-2026",
    "/drives/mo-2026/st-louis",
    "/api/drives/mo-2026",
    "/drives/mo-2026/p/ana-b",  # a member's page
)

#: Which of each table's rows the test changes: the drive's, St. Louis's, its report.
THE_ROW = {
    Drive: lambda ids: Drive.id == ids["drive"],
    Chapter: lambda ids: Chapter.id == ids["chapter"],
    DriveChapter: lambda ids: (
        (DriveChapter.drive_id == ids["drive"]) & (DriveChapter.chapter_id == ids["chapter"])
    ),
    PartnerReport: lambda ids: PartnerReport.id == ids["report"],
    PartnerReportRemittance: lambda ids: PartnerReportRemittance.report_id == ids["report"],
    MatchPledge: lambda ids: MatchPledge.id == ids["pledge"],
    MemberPage: lambda ids: MemberPage.id == ids["member"],
}

#: Columns no answer shows (they are in the key all the same: it holds whole rows).
NOT_SHOWN = {
    "drive.public_revision",  # only moves the key on (a donor's name erased)
    "drive.created_at",
    "drive.embed_origins",  # the embed's frame-ancestors header, read on every request
    "chapter.created_at",
    "partner_report.created_at",
    "partner_report.region",  # the treasurer's list of reports shows it, not the drive page
    "partner_report.partner_reference",  # likewise
    "partner_report.revision",
    "partner_report.reason",
    "match_pledge.created_at",
    "match_pledge.ended_early_at",  # ends_on moves with it
    "match_pledge.withdrawn_reason",  # the audit log keeps it; a withdrawn pledge is not shown
    "member_page.email",  # private: the member's links only
    "member_page.email_key",
    "member_page.created_at",
    "member_page.approved_at",  # another moment of approval: still approved
    "member_page.hidden_reason",  # the organizers' screen shows it, not the public pages
}


@pytest.fixture
def drive_with_everything(session):
    """The coalition's drive with a gift, a chapter sub-goal, a partner's report and an image,
    so every part of the page is on it."""
    drive = make_coalition(session, ends_on=date.today() + timedelta(days=60))
    drive_images.set_image(session, drive, photo(), "Volunteers at the St. Louis launch")
    make_gift(session, drive, 10_000, chapter="st-louis", donor_name="Ana B.", show_name=True)
    st_louis = drives.get_chapter(session, "st-louis")
    drives.set_chapter_goal(session, drive, st_louis, 50_000)
    remittance, report = make_partner_report(
        session, st_louis, drive, make_user(session, "admin@mo.org", admin=True),
        sent_cents=5_000, reference="1", partner_reference="UMD-1",
        debt_abolished_cents=900_000, people_helped=12, region="St. Louis County",
    )  # fmt: skip
    pledge = matches.create_pledge(
        session,
        st_louis,
        drive,
        matches.PledgeTerms(
            sponsor_name="Acme Health",
            ratio="1:1",
            cap_cents=500_000,
            starts_on=ledger.today(),
            ends_on=ledger.today() + timedelta(days=10),
            counts=MatchCounts.ALL,
        ),
    )
    member = MemberPage(
        drive_id=drive.id,
        chapter_id=st_louis.id,
        name="ana-b",
        display_name="Bea M.",
        email="ana@example.org",
        email_key="ana@example.org",
        story="Why I give.",
        goal_cents=20_000,
        approved_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    session.add(member)
    session.commit()
    return {
        "drive": drive.id,
        "chapter": st_louis.id,
        "report": report.id,
        "pledge": pledge.id,
        "member": member.id,
    }


def photo() -> bytes:
    """A small JPEG, as an organizer would upload."""
    from io import BytesIO

    from PIL import Image

    out = BytesIO()
    Image.new("RGB", (640, 360), (11, 110, 79)).save(out, "JPEG")
    return out.getvalue()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="[^"]*"')


def answers(client) -> dict[str, tuple[int, str]]:
    """Each answer's status and body, bar the visitor's own CSRF token."""
    found = {}
    for path in ANSWERS:
        response = client.get(path)
        found[path] = (response.status_code, _CSRF.sub("", response.get_data(as_text=True)))
    return found


def built_afresh(database_url) -> dict[str, tuple[int, str]]:
    """The answers as a worker that has cached nothing builds them."""
    fresh = make_app(database_url)
    try:
        return answers(fresh.test_client())
    finally:
        fresh.extensions["relief.engine"].dispose()


def another_value(column, value):
    """A value the column does not hold, of its type, that a page showing it would show."""
    if column.name == "currency":
        return "EUR"  # a currency code, or the money on the page cannot be written
    kind = column.type
    if isinstance(kind, TypeDecorator):  # SQLModel's AutoString
        kind = kind.impl_instance
    if isinstance(kind, Enum):  # stored as text with a CHECK: another of its values
        return next(choice for choice in kind.enums if choice != str(value))
    if isinstance(kind, Boolean):
        return not value
    if isinstance(kind, Integer):
        return 1_000 if value is None else value + 1_000
    if isinstance(kind, String):
        return f"{value or ''} changed"[-kind.length :]
    if isinstance(kind, Date):
        return date.today() + timedelta(days=30) if value is None else value - timedelta(days=1)
    if isinstance(kind, DateTime):
        return datetime(2026, 1, 1, tzinfo=UTC) if value is None else value - timedelta(days=1)
    raise AssertionError(f"no other value for {column} of type {kind!r}")


def test_every_column_of_the_rows_a_drive_page_reads_is_in_its_key(
    app, client, session, database_url, drive_with_everything
):
    """For each column of each row the pages read whole: written around the app, the warm
    page, chapter page and API answer are what a fresh build gives — and they change where
    the column shows. Leave any column out of the key and this fails."""
    ids = drive_with_everything
    changed = set()
    for table in state.WHOLE_ROWS:
        the_row = THE_ROW[table](ids)
        for column in table.__table__.columns:
            if column.primary_key or column.foreign_keys:
                continue  # which rows are the drive's, not what they say
            name = f"{table.__tablename__}.{column.name}"
            answers(client)
            before = answers(client)  # served from the cache
            value = session.execute(select(column).where(the_row)).scalar_one()
            new_value = another_value(column, value)
            session.execute(update(table).where(the_row).values({column.name: new_value}))
            session.commit()

            after = answers(client)
            assert after == built_afresh(database_url), f"a stale page after {name} changed"
            if after != before:
                changed.add(name)

            session.execute(update(table).where(the_row).values({column.name: value}))
            session.commit()

    shown = {
        f"{table.__tablename__}.{column.name}"
        for table in state.WHOLE_ROWS
        for column in table.__table__.columns
        if not (column.primary_key or column.foreign_keys)
    } - NOT_SHOWN
    assert changed == shown  # the test changed what it meant to, where the pages show it


def test_a_drive_page_reads_no_table_its_key_does_not_cover(
    app, session, database_url, drive_with_everything
):
    """Every table the pages read is read whole into the key or moves it on through the
    ledger. A page that starts reading another table fails here until the key covers it."""
    keyed = {table.__tablename__ for table in (*state.WHOLE_ROWS, *state.THROUGH_THE_LEDGER)}
    fresh = make_app(database_url)
    read = set()

    def note_tables(_connection, statement, *_args):
        assert not isinstance(statement, TextClause), f"a textual query: {statement}"
        for found in find_tables(statement, check_columns=True, include_aliases=True):
            # A table, or an alias of one; a subquery's own tables are found inside it.
            table = found.element if isinstance(getattr(found, "element", None), Table) else found
            if isinstance(table, Table):
                read.add(table.name)

    engine = fresh.extensions["relief.engine"]
    event.listen(engine, "before_execute", note_tables)
    try:
        assert all(status == 200 for status, _ in answers(fresh.test_client()).values())
    finally:
        engine.dispose()
    assert "drive" in read and "partner_report" in read
    assert read <= keyed, f"read but not keyed: {read - keyed}"


def test_a_gifts_public_fields_show_at_once_when_public_pages_changed_is_called(
    app, client, session, database_url, drive_with_everything
):
    """A gift's name changes without a ledger entry only through a service that says so
    (privacy's erasure): the page shows it on the next request."""
    from relief.models import Gift

    assert "Ana B." in answers(client)["/drives/mo-2026"][1]
    session.execute(update(Gift).values(donor_name="Erased"))
    drive_pages.public_pages_changed(session, [drive_with_everything["drive"]])
    session.commit()
    page = answers(client)["/drives/mo-2026"][1]
    assert "Ana B." not in page and "Erased" in page
    assert answers(client) == built_afresh(database_url)
