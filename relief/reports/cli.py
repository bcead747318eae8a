"""``flask report …``: write a drive's press impact report, or a chapter's monthly treasurer's
report, to a file."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from relief import boundary, drives
from relief.errors import DomainError
from relief.models import utcnow
from relief.reports import monthly, press, render, year_end

report_cli = AppGroup("report", help="PDF reports.")
receipts_cli = AppGroup("receipts", help="Donors' receipts and year-end statements.")

#: Where the QR code points when RELIEF_PUBLIC_URL is not set (the development server).
LOCAL_URL = "http://127.0.0.1:5000"


@report_cli.command("drive")
@click.argument("drive_slug", metavar="SLUG")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The PDF file to write.",
)
@click.option("--paper", type=click.Choice(["letter", "a4"]), default="letter", show_default=True)
def report_drive(drive_slug, output, paper):
    """Write the press impact report of the drive SLUG as a PDF."""
    base = current_app.config.get("RELIEF_PUBLIC_URL") or LOCAL_URL
    if base == LOCAL_URL:
        click.echo(
            f"Note: RELIEF_PUBLIC_URL is not set; the QR code points to {LOCAL_URL}.", err=True
        )
    try:
        with boundary.command(write=False) as session:
            snapshot = press.build(
                session,
                drive_slug,
                utcnow(),
                drive_url=f"{base.rstrip('/')}/drives/{drive_slug}",
                org_name=current_app.config["RELIEF_ORG_NAME"],
                press_contact=current_app.config["RELIEF_PRESS_CONTACT"],
            )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    data = render.pdf(snapshot, paper)
    output.write_bytes(data)
    click.echo(
        f"Wrote {output} ({len(data) // 1024} KB): {snapshot.title}, figures as of "
        f"{snapshot.as_of:%Y-%m-%d %H:%M} UTC, fingerprint {snapshot.short_fingerprint}."
    )


@report_cli.command("month")
@click.argument("chapter_slug", metavar="CHAPTER")
@click.argument("month", metavar="YYYY-MM")
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="The PDF file to write.",
)
@click.option("--paper", type=click.Choice(["letter", "a4"]), default="letter", show_default=True)
def report_month(chapter_slug, month, output, paper):
    """Write CHAPTER's treasurer's report for the month YYYY-MM as a PDF.

    It contains donor names: keep it among the chapter's treasurers.
    """
    now = utcnow()
    try:
        with boundary.command(write=False) as session:
            chapter = drives.get_chapter(session, chapter_slug)
            snapshot = monthly.build(
                session, chapter, month, now=now, org_name=current_app.config["RELIEF_ORG_NAME"]
            )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    data = render.monthly_pdf(snapshot, paper)
    output.write_bytes(data)
    state = "the whole month" if snapshot.month_complete else "month to date"
    click.echo(
        f"Wrote {output} ({len(data) // 1024} KB): {snapshot.title} ({state}), figures as of "
        f"{snapshot.as_of:%Y-%m-%d %H:%M} UTC. It contains donor names: not for publication."
    )


@receipts_cli.command("year-end")
@click.argument("year", type=click.IntRange(2000, 2999), metavar="YEAR")
def receipts_year_end(year):
    """Email every donor who gave in YEAR their year-end statement (one PDF: every gift, net
    of refunds and corrections). Safe to run again: each donor gets one statement a year."""

    def progress(done: int, total: int) -> None:
        if done == total or done % 100 == 0:
            click.echo(f"{done} of {total} donors checked")

    with boundary.command() as session:
        written = year_end.enqueue_statements(session, year, progress)
    click.echo(
        f"{written} year-end statement(s) for {year} queued; the worker sends them "
        "(flask --app app worker). Donors already sent theirs were skipped."
    )
