"""CLI commands of the payments domain (registered by relief/cli.py)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from relief import boundary
from relief.payments import fee_reader, fees, testmode
from relief.payments.choice import for_app
from relief.payments.gateway import GatewayError

stripe_cli = AppGroup(
    "stripe", help="Stripe: fees, payouts, and gifts whose drive was unknown (unassigned)."
)


@click.command("purge-test")
@with_appcontext
def purge_test():
    """Take test-mode gifts back out of every figure (by reversing entries; the ledger keeps
    its history)."""
    with boundary.command() as session:
        purged = testmode.purge(session)
    click.echo(
        f"Purged {purged.gifts} test-mode gift{'s' if purged.gifts != 1 else ''}: "
        f"{purged.entries} reversing ledger entr{'ies' if purged.entries != 1 else 'y'} posted."
    )


@stripe_cli.command("sync-fees")
def sync_fees():
    """Read the fee of every gift still waiting for one from its Stripe balance transaction."""
    gateway = for_app(current_app)
    with boundary.command(write=False) as session:
        gift_ids = fees.pending_gift_ids(session)
    failed = 0
    for gift_id in gift_ids:
        # One unit of work per gift: one Stripe failure does not undo the others.
        try:
            click.echo(fee_reader.read_fee(gateway, gift_id))
        except GatewayError as error:
            failed += 1
            click.echo(f"gift {gift_id}: still pending ({error})", err=True)
    click.echo(f"{len(gift_ids) - failed} of {len(gift_ids)} pending fees filled.")
    if failed:
        raise click.ClickException(f"{failed} fees are still pending; run this again later.")
