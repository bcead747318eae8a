"""Flask CLI commands. Each runs one unit of work (``boundary.command``): all of it is written,
or none."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy.exc import ProgrammingError

from relief import boundary, db, demo, drives, ledger, money
from relief.errors import DomainError
from relief.models import GiftMethod
from relief.treasury import audit


def _fail(error: DomainError):
    raise click.ClickException(error.message)


def _date(_ctx, _param, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"“{value}” is not a date; use YYYY-MM-DD.") from None


def _amount(_ctx, _param, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return money.parse(value)
    except DomainError as error:
        raise click.BadParameter(error.message) from None


def _ratio(_ctx, _param, value: str) -> int:
    try:
        return money.parse(value)  # "100" → 10000 hundredths; same rules as an amount
    except DomainError:
        raise click.BadParameter(
            f"“{value}” is not a ratio; give the debt relieved per dollar, e.g. 100."
        ) from None


db_cli = AppGroup("db", help="The database schema.")
chapter_cli = AppGroup("chapter", help="Chapters of the coalition.")
drive_cli = AppGroup("drive", help="Fundraising drives.")
gift_cli = AppGroup(
    "gift", help="Gifts: add one received offline (cash, check); purge test-mode gifts."
)
ledger_cli = AppGroup("ledger", help="The ledger every figure comes from.")
backup_cli = AppGroup("backup", help="Back up and restore the database.")
donor_cli = AppGroup("donor", help="A donor's own data, on their request.")


@db_cli.command("upgrade")
def db_upgrade():
    """Bring the schema up to date (safe to run again)."""
    db.upgrade(current_app.config["DATABASE_URL"], timezone=current_app.config["RELIEF_TIMEZONE"])
    click.echo("Database schema is up to date.")


@chapter_cli.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The chapter's name, e.g. “Mid-Missouri”.")
@click.option("--region", default=None, help="Where it works, e.g. a US state code (MO).")
def chapter_add(slug, name, region):
    """Add a chapter."""
    try:
        with boundary.command() as session:
            chapter = drives.create_chapter(session, slug, name, region)
    except DomainError as error:
        _fail(error)
    click.echo(f"Added chapter {chapter.slug} ({chapter.name}).")


@drive_cli.command("add")
@click.argument("slug")
@click.option("--title", required=True)
@click.option("--goal", "goal_cents", required=True, callback=_amount, help="Goal in dollars.")
@click.option(
    "--ratio",
    "ratio_hundredths",
    default="100",
    show_default=True,
    callback=_ratio,
    help="Estimated debt relieved per dollar given.",
)
@click.option("--chapters", required=True, help="Comma-separated chapter slugs taking part.")
@click.option(
    "--host",
    "host_slug",
    default=None,
    help="The host chapter, one of --chapters (default: the first): its books hold the gifts "
    "to the whole drive. An admin may change it until the first gift.",
)
@click.option("--story", default="", help="Why this drive; shown on its page.")
@click.option("--starts", "starts_on", callback=_date, help="YYYY-MM-DD (default today).")
@click.option("--ends", "ends_on", callback=_date, help="YYYY-MM-DD.")
@click.option("--region", "target_region", default=None, help="Where the debt is relieved.")
@click.option("--partner", "partner_name", default=None, help="The relief nonprofit's name.")
@click.option(
    "--ratio-source",
    default=None,
    help="Where the ratio comes from, shown beside every projection (cite the partner's "
    "published figure).",
)
@click.option(
    "--ratio-as-of", "ratio_as_of", callback=_date, help="YYYY-MM-DD: when that source stated it."
)
def drive_add(
    slug,
    title,
    goal_cents,
    ratio_hundredths,
    chapters,
    host_slug,
    story,
    starts_on,
    ends_on,
    target_region,
    partner_name,
    ratio_source,
    ratio_as_of,
):
    """Add a drive that the named chapters run together."""
    chapter_slugs = [part.strip() for part in chapters.split(",") if part.strip()]
    try:
        with boundary.command() as session:
            drive = drives.create_drive(
                session,
                slug=slug,
                title=title,
                goal_cents=goal_cents,
                chapter_slugs=chapter_slugs,
                host_slug=host_slug,
                story=story,
                ratio_hundredths=ratio_hundredths,
                starts_on=starts_on,
                ends_on=ends_on,
                target_region=target_region,
                partner_name=partner_name,
                ratio_source=ratio_source,
                ratio_as_of=ratio_as_of,
            )
    except DomainError as error:
        _fail(error)
    click.echo(
        f"Added drive {drive.slug}: goal {money.format(drive.goal_cents)}, "
        f"chapters {', '.join(chapter_slugs)}; host {host_slug or chapter_slugs[0]}."
    )


@drive_cli.command("host")
@click.argument("slug")
@click.argument("chapter_slug")
def drive_host(slug, chapter_slug):
    """Make CHAPTER_SLUG (one of the drive's chapters) host the drive: its books hold the
    gifts to the whole drive. Only until the drive's first gift."""
    try:
        with boundary.command() as session:
            drive = drives.get_drive(session, slug)
            host = drives.set_host(session, drive, chapter_slug)
            if host is not None:
                audit.record(
                    session,
                    audit.CLI,
                    "drive.host",
                    f"drive {drive.slug}: host chapter is now {host.slug} (it holds the gifts "
                    "to the whole drive)",
                    host,
                )
    except DomainError as error:
        _fail(error)
    click.echo(f"{chapter_slug} hosts {slug}.")


@gift_cli.command("add")
@click.argument("drive_slug", metavar="DRIVE")
@click.argument("amount_cents", metavar="DOLLARS", callback=_amount)
@click.option("--chapter", "chapter_slug", default=None, help="The chapter credited.")
@click.option("--name", "donor_name", default="", help="The donor's name.")
@click.option("--anonymous", is_flag=True, help="Do not show the donor's name publicly.")
@click.option("--method", type=click.Choice(["cash", "check"]), default="check", show_default=True)
@click.option("--check-number", default=None)
@click.option("--received", "received_on", callback=_date, help="YYYY-MM-DD (default now).")
def gift_add(
    drive_slug, amount_cents, chapter_slug, donor_name, anonymous, method, check_number, received_on
):
    """Record a cash or check gift to a drive."""
    try:
        with boundary.command() as session:
            drive = drives.get_drive(session, drive_slug)
            chapter = (
                drives.chapter_in_drive(session, drive, chapter_slug) if chapter_slug else None
            )
            gift = drives.record_offline_gift(
                session,
                drive,
                amount_cents,
                method=GiftMethod(method),
                chapter=chapter,
                donor_name=donor_name,
                show_name=not anonymous,
                check_number=check_number,
                received_at=datetime.combine(received_on, time(12), UTC) if received_on else None,
            )
            totals = ledger.totals(session, drive)
    except DomainError as error:
        _fail(error)
    click.echo(
        f"Recorded {money.format(gift.amount_cents, drive.currency)} {method} gift "
        f"#{gift.id}; {drive.slug} has raised {money.format(totals.raised_cents)}."
    )


@ledger_cli.command("rekey")
@click.option("--timezone", "zone_name", required=True, help="The IANA zone to key the sums in.")
def ledger_rekey(zone_name):
    """Re-key the day and month sums in another time zone (before changing RELIEF_TIMEZONE);
    refused while it would move money into or out of a closed month."""
    from relief.config import ConfigError, timezone_setting
    from relief.ledger import rekey

    try:
        zone_name = timezone_setting(zone_name)
        with boundary.command() as session:
            rekey.rekey(session, zone_name)
    except ConfigError as error:
        raise click.ClickException(str(error).replace("RELIEF_TIMEZONE", "--timezone")) from None
    except DomainError as error:
        _fail(error)
    click.echo(
        f"The day and month sums are now keyed in {zone_name}: set RELIEF_TIMEZONE={zone_name} "
        "and restart the app."
    )


@ledger_cli.command("verify")
@click.argument("drive_slug", metavar="DRIVE", required=False)
def ledger_verify(drive_slug):
    """Replay the ledger and check every running total and fingerprint against it."""
    from sqlmodel import select

    from relief.models import Drive

    failed = False
    try:
        with boundary.command(write=False) as session:
            if drive_slug:
                targets = [drives.get_drive(session, drive_slug)]
            else:
                targets = list(session.exec(select(Drive)))
            for drive in targets:
                problems = ledger.verify(session, drive)
                failed |= bool(problems)
                click.echo(f"{drive.slug}: " + ("exact" if not problems else "; ".join(problems)))
    except DomainError as error:  # an unknown drive; SQLite without a schema
        _fail(error)
    except ProgrammingError as error:  # PostgreSQL without a schema: a relation does not exist
        raise click.ClickException(db.explain(error)) from None
    if failed:
        raise click.ClickException("The running totals differ from the ledger.")


@click.command("demo")
@with_appcontext
@click.option(
    "--gifts",
    "gift_count",
    type=click.IntRange(0, 10_000_000),
    default=None,
    help="Add this many synthetic gifts in bulk (for benchmarks).",
)
@click.option("--drive", "drive_slug", default=None, help="The drive for --gifts.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--if-empty", is_flag=True, help="Only when the database has no drive yet.")
def demo_command(gift_count, drive_slug, seed, if_empty):
    """A realistic demo coalition with a few weeks of gifts, for a first look."""
    try:
        if if_empty:
            with boundary.command(write=False) as session:
                if demo.has_drives(session):
                    return
        if gift_count is None:
            with boundary.command() as session:
                drive = demo.seed_coalition(session, seed=seed)
            click.echo(f"Demo drive ready: /drives/{drive.slug}")
        else:
            with boundary.command() as session:
                drive = demo.ensure_demo_drive(session, drive_slug)
                added = demo.add_gifts(
                    session,
                    drive.slug,
                    gift_count,
                    seed=seed,
                    checkpoint=boundary.checkpoint,
                    progress=click.progressbar,
                )
            click.echo(f"Added {added} gifts to {drive.slug}.")
    except DomainError as error:
        _fail(error)


@backup_cli.command("create")
@click.option(
    "-o",
    "--output",
    "target",
    required=True,
    type=click.Path(dir_okay=False),
    help="The backup file to write (must not exist).",
)
def backup_create(target):
    """A consistent backup while the app runs (SQLite online backup, or pg_dump)."""
    from relief import backup

    try:
        path = backup.create(current_app.config["DATABASE_URL"], target)
    except DomainError as error:
        _fail(error)
    click.echo(f"Backup written to {path}.")


def _erasure_list(path: str | None) -> Path:
    return Path(path) if path else Path(current_app.instance_path) / "erased-donors"


#: The erasure list: the keyed hashes of erased addresses, outside the database, so that a
#: restore of an older backup erases those donors again. Holds no address.
erasure_list_option = click.option(
    "--erasure-list",
    "erasure_list",
    type=click.Path(dir_okay=False),
    envvar="RELIEF_ERASURE_LIST",
    default=None,
    help="The erasure list (default: instance/erased-donors; or RELIEF_ERASURE_LIST).",
)


def _clear_old_copies() -> None:
    from relief import privacy

    left = privacy.clear_old_copies(current_app.config["DATABASE_URL"])
    if left:
        click.echo(left)


@backup_cli.command("restore")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the database.")
@erasure_list_option
def backup_restore(source, yes, erasure_list):
    """Replace the database with a backup (stop the app first), then erase again every donor
    on the erasure list."""
    from relief import backup, privacy

    path = _erasure_list(erasure_list)
    if not yes:
        click.confirm("This replaces every row of the database with the backup. Go on?", abort=True)
    try:
        hashes = privacy.read_list(path)  # a bad list refuses before anything is replaced
        backup.restore(current_app.config["DATABASE_URL"], source)
        with boundary.command() as session:
            erasure = privacy.reapply(session, hashes or ())
    except DomainError as error:
        _fail(error)
    click.echo(f"Restored from {source}.")
    if hashes is None:
        click.echo(
            f"There is no erasure list at {path}: a donor erased after this backup was made "
            "is in the database again. Run the restore again with --erasure-list FILE, or "
            "erase each such donor again: flask --app app donor erase EMAIL"
        )
    else:
        click.echo(
            f"Erasures on {path} re-applied: {erasure.gifts} gift(s) and {erasure.events} "
            "stored Stripe event(s) erased again."
        )
    _clear_old_copies()
    click.echo("Check the books with: flask --app app ledger verify")


@donor_cli.command("export")
@click.argument("email")
def donor_export(email):
    """Print, as JSON, everything held about the donor with this email: gifts and the
    personal data in stored Stripe events."""
    import json

    from relief import privacy

    try:
        with boundary.command(write=False) as session:
            data = privacy.export(session, email)
    except DomainError as error:
        _fail(error)
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


@donor_cli.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@erasure_list_option
def donor_erase(email, yes, erasure_list):
    """Erase the donor's name, email, messages and what stored Stripe events hold about them;
    gift amounts stay in the books. Later events naming the address record no donor."""
    from relief import privacy
    from relief.treasury import audit

    if not yes:
        click.confirm(f"Erase the personal data of {email}? This cannot be undone.", abort=True)
    try:
        with boundary.command() as session:
            erasure = privacy.erase(session, email)
            if erasure.already:
                click.echo(f"{privacy.email_key(email)} was erased already; nothing holds it.")
                return
            audit.record(
                session,
                audit.CLI,
                "donor.erase",
                f"{erasure.gifts} gift(s), {erasure.events} stored event(s)",
            )
            # On disk before the commit: the list never misses an erasure the database has.
            privacy.remember_in_list(_erasure_list(erasure_list), [erasure.address_hash])
    except DomainError as error:
        _fail(error)
    click.echo(
        f"Erased the personal data of {erasure.gifts} gift(s) and {erasure.events} stored "
        "Stripe event(s); amounts are kept."
    )
    _clear_old_copies()


def init_app(app: Flask) -> None:
    from relief.cli_accounts import user_cli
    from relief.outbox.worker import worker_command
    from relief.payments import commands as payment_commands
    from relief.reports.cli import receipts_cli, report_cli
    from relief.treasury import commands as treasury_commands

    gift_cli.add_command(payment_commands.purge_test)
    for command in (
        treasury_commands.stripe_sync,
        treasury_commands.stripe_unassigned,
        treasury_commands.stripe_assign,
    ):
        payment_commands.stripe_cli.add_command(command)
    app.cli.add_command(payment_commands.stripe_cli)
    groups = (
        db_cli,
        chapter_cli,
        drive_cli,
        gift_cli,
        ledger_cli,
        backup_cli,
        donor_cli,
        report_cli,
        receipts_cli,
        user_cli,
    )
    for group in groups:
        app.cli.add_command(group)
    app.cli.add_command(demo_command)
    app.cli.add_command(worker_command)
