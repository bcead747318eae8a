"""CLI commands of the treasury domain. They join the `stripe` group (relief/cli.py adds them)
because they follow up Stripe's payouts; they live here so that payments never imports treasury.
"""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from relief import db
from relief.payments.choice import for_app
from relief.payments.gateway import GatewayError
from relief.treasury import audit, payout_sync


@click.command("sync")
@with_appcontext
def stripe_sync():
    """Fetch Stripe payouts and their balance transactions and match them to the ledger.
    Safe to run again at any time; a run cut off halfway resumes where it stopped."""
    gateway = for_app(current_app)
    try:
        with db.unit_of_work() as session:

            def checkpoint():
                session.commit()
                db.begin_write(session)

            with click.progressbar(length=1, label="Payouts' transactions") as bar:
                state = {"done": 0}

                def progress(done, total):
                    bar.length = total
                    bar.update(done - state["done"])
                    state["done"] = done

                result = payout_sync.sync(
                    session, gateway, actor=audit.CLI, checkpoint=checkpoint, progress=progress
                )
    except GatewayError as error:
        raise click.ClickException(
            f"{error} What was fetched is kept; run this again to resume."
        ) from None
    click.echo(result.sentence())
