"""CLI commands of the payments domain (registered by relief/cli.py)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from relief import boundary
from relief.models import JobStatus
from relief.outbox import due
from relief.payments import fees, testmode

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
    """Read the fee of every gift still waiting for one from its Stripe balance transaction
    (the same fee job a worker runs, made due now)."""
    from relief.outbox.worker import Worker

    with boundary.command() as session:
        gift_ids = fees.pending_gift_ids(session)
        for gift_id in gift_ids:
            due.fee_now(session, gift_id)
    worker = Worker(current_app._get_current_object(), kinds=("fee",))  # type: ignore[attr-defined]
    failed = 0
    while batch := worker.run_next():
        # Each job ends on its own: one Stripe failure does not undo the others.
        for ran in batch:
            if ran.status is JobStatus.DONE:
                click.echo(ran.message)
            else:
                failed += 1
                click.echo(f"{ran.key}: still pending ({ran.message})", err=True)
    click.echo(f"{len(gift_ids) - failed} of {len(gift_ids)} pending fees filled.")
    if failed:
        raise click.ClickException(f"{failed} fees are still pending; run this again later.")
