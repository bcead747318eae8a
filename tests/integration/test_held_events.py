"""A held Stripe event can be run again by a coalition admin once its cause is gone
(issue 13: held events could not be released in the app): listed with its reason on
/admin/unassigned, a "Run it again" button, audited; held again, with its reason, while the
cause remains."""

from __future__ import annotations

from sqlmodel import select

from relief.models import AuditEvent, ParkedEvent
from tests import stripe_objects as so
from tests.factories import make_coalition
from tests.integration.test_webhooks import api, exact, paid_session
from tests.stripe_fixtures import *  # noqa: F403
from tests.treasury_helpers import SignedIn, data, make_user


def _dispute(dispute_id, status):
    return so.dispute(
        dispute_id=dispute_id,
        charge_id="ch_held",
        payment_intent="pi_held",
        amount_cents=5_000,
        status=status,
    )


def test_an_admin_runs_a_held_event_again_once_its_cause_is_gone(stripe_app, stripe_client):
    with data(stripe_app) as session:
        drive = make_coalition(session)
        make_user(session, "admin@mo.org", admin=True)
    _, paid = paid_session(5_000, payment_intent="pi_held")
    so.deliver(stripe_client, paid)
    so.deliver(
        stripe_client, so.event("charge.dispute.created", _dispute("dp_first", "needs_response"))
    )
    # A second dispute of the same charge while the first is open would take the gift out twice.
    second = so.event("charge.dispute.created", _dispute("dp_second", "needs_response"))
    so.deliver(stripe_client, second)
    assert api(stripe_client)["disputes_cents"] == 5_000

    admin = SignedIn(stripe_app, "admin@mo.org")
    page = admin.get("/admin/unassigned").get_data(as_text=True)
    assert "Dispute dp_second is for $50.00, more than its gift" in page
    assert f'action="/admin/events/{second["id"]}/run"' in page

    # Run again while the first dispute is open: held again, with its reason; nothing posted.
    again = admin.post(f"/admin/events/{second['id']}/run", follow_redirects=True)
    text = again.get_data(as_text=True)
    assert again.status_code == 200
    assert f"Stripe event {second['id']} is held again: Dispute dp_second is for $50.00" in text
    assert api(stripe_client)["disputes_cents"] == 5_000

    # The first dispute is won; now the second one fits, and runs.
    won = so.event("charge.dispute.closed", _dispute("dp_first", "won"))
    so.deliver(stripe_client, won)
    assert api(stripe_client)["disputes_cents"] == 0
    ran = admin.post(f"/admin/events/{second['id']}/run", follow_redirects=True)
    assert f"Stripe event {second['id']} ran: dispute dp_second" in ran.get_data(as_text=True)
    assert api(stripe_client)["disputes_cents"] == 5_000
    with data(stripe_app) as session:
        assert session.exec(select(ParkedEvent)).all() == []
        lines = session.exec(
            select(AuditEvent.detail).where(AuditEvent.action == "stripe.run")
        ).all()
        assert len(lines) == 2 and all(second["id"] in line for line in lines)
        exact(session, drive)
    # Not held (or not there): nothing to run.
    assert admin.post(f"/admin/events/{second['id']}/run").status_code == 404
    assert admin.post("/admin/events/evt_unknown/run").status_code == 404
