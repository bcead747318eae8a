"""An admin sets what receipts say about the organization in the browser (issue 15): legal
name, EIN, address, contact and tax statement. A blank field is the server's setting."""

from __future__ import annotations

import html

from sqlmodel import select

from relief.models import AuditEvent, Gift
from tests.factories import make_coalition
from tests.integration.test_donate import csrf_token, give, text_of
from tests.read_back import pdf_text
from tests.treasury_helpers import SignedIn, make_user


def _paid_gift(session, client) -> Gift:
    checkout = give(client).headers["Location"]
    gift = session.exec(select(Gift)).one()
    client.post(
        f"/test-checkout/{gift.public_id}/pay", data={"csrf_token": csrf_token(client, checkout)}
    )
    return gift


def _receipt(client, gift) -> str:
    return " ".join(pdf_text(client.get(f"/gifts/{gift.public_id}/receipt.pdf").data).split())


def test_an_admin_sets_what_receipts_print_and_blank_goes_back_to_the_server(app, session, client):
    make_coalition(session)
    make_user(session, "admin@mo.org", admin=True)
    gift = _paid_gift(session, client)
    server_name = app.config["RELIEF_ORG_LEGAL_NAME"]
    assert server_name in _receipt(client, gift)
    admin = SignedIn(app, "admin@mo.org")

    saved = admin.post(
        "/admin/organization",
        data={
            "legal_name": "Missouri Medical Debt Coalition, Inc.",
            "ein": "431234567",
            "address": "12 Main St, St. Louis, MO 63101",
            "contact_email": "giving@mo-coalition.org",
            "statement": "Gifts are tax-deductible to the extent allowed by law.",
        },
    )
    assert saved.status_code == 302
    receipt = _receipt(client, gift)
    assert "Missouri Medical Debt Coalition, Inc." in receipt
    assert "43-1234567" in receipt  # the EIN as it is written
    assert "12 Main St, St. Louis, MO 63101" in receipt
    assert "tax-deductible to the extent allowed by law" in receipt
    assert "giving@mo-coalition.org" in text_of(client.get(f"/gifts/{gift.public_id}"))
    session.rollback()
    line = session.exec(
        select(AuditEvent).where(AuditEvent.action == "organization.receipt_settings")
    ).one()
    assert line.actor_email == "admin@mo.org" and "'(server setting)' → '43-1234567'" in line.detail

    # Cleared: the server's own setting is printed again.
    admin.post("/admin/organization", data={"ein": "431234567"})
    receipt = _receipt(client, gift)
    assert server_name in receipt and "Missouri Medical Debt Coalition" not in receipt
    assert "43-1234567" in receipt


def test_a_wrong_ein_is_refused_with_a_sentence_and_nothing_changes(app, session, client):
    make_coalition(session)
    make_user(session, "admin@mo.org", admin=True)
    admin = SignedIn(app, "admin@mo.org")
    refused = admin.post(
        "/admin/organization", data={"legal_name": "New Name Inc.", "ein": "12-34"}
    )
    assert refused.status_code == 400
    page = html.unescape(text_of(refused))
    assert "An EIN is nine digits such as 12-3456789; '12-34' is not one." in page
    assert 'value="New Name Inc."' in refused.get_data(as_text=True)  # what was typed is kept
    gift = _paid_gift(session, client)
    assert "New Name Inc." not in _receipt(client, gift)
    session.rollback()
    assert (
        session.exec(select(AuditEvent).where(AuditEvent.action.startswith("organization"))).all()
        == []
    )
