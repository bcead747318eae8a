"""CLI commands of the treasury domain: payout sync and unassigned gifts. They join the
`stripe` group (relief/cli.py adds them) because they follow up what Stripe sent; they live
here so that payments never imports treasury.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from relief import boundary, money
from relief.errors import DomainError
from relief.payments.choice import for_app
from relief.payments.gateway import GatewayError
from relief.treasury import audit, gifts, payout_sync


@click.command("sync")
@with_appcontext
def stripe_sync():
    """Fetch Stripe payouts and their balance transactions and match them to the ledger.
    Safe to run again at any time; a run cut off halfway resumes where it stopped."""
    gateway = for_app(current_app)
    try:
        with boundary.command() as session:
            with click.progressbar(length=1, label="Payouts' transactions") as bar:
                state = {"done": 0}

                def progress(done, total):
                    bar.length = total
                    bar.update(done - state["done"])
                    state["done"] = done

                result = payout_sync.sync(
                    session,
                    gateway,
                    actor=audit.CLI,
                    checkpoint=boundary.checkpoint,
                    progress=progress,
                )
    except GatewayError as error:
        raise click.ClickException(
            f"{error} What was fetched is kept; run this again to resume."
        ) from None
    click.echo(result.sentence())


@click.command("unassigned")
@with_appcontext
def stripe_unassigned():
    """List unassigned gifts: paid through Stripe for a drive we did not know, they count
    nowhere until assigned (`stripe assign`)."""
    with boundary.command(write=False) as session:
        waiting = gifts.every_unassigned(session)
        for gift in waiting:
            click.echo(
                f"{gift.public_id}  {money.format(gift.amount_cents, gift.currency)}  "
                f"{gift.status.value}  named drive “{gift.unmatched_drive or '-'}”  "
                f"session {gift.stripe_session_id or '-'}"
            )
    if not waiting:
        click.echo("No unassigned gifts.")


@click.command("assign")
@with_appcontext
@click.argument("public_id", metavar="GIFT")
@click.argument("drive_slug", metavar="DRIVE")
@click.option(
    "--chapter", "chapter_slug", default=None, help="The chapter credited (none: the drive only)."
)
def stripe_assign(public_id, drive_slug, chapter_slug):
    """Count an unassigned gift toward a drive (and chapter), with its fee, refunds and
    disputes — as the treasurer's and admin's Unassigned screens do."""
    try:
        with boundary.command() as session:
            gift = gifts.assign_by_public_id(session, public_id, drive_slug, chapter_slug)
            audit.record(
                session,
                audit.CLI,
                "gift.assign",
                f"gift #{gift.id} ({money.format(gift.amount_cents, gift.currency)}) assigned "
                f"to drive #{gift.drive_id}",
            )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Gift {gift.public_id} now counts toward {drive_slug}.")
