"""Who receives the money, as receipts and year-end statements say it.

The server's settings (RELIEF_ORG_LEGAL_NAME, RELIEF_ORG_EIN, RELIEF_ORG_ADDRESS,
RELIEF_CONTACT_EMAIL, RELIEF_RECEIPT_STATEMENT) are the defaults; a coalition admin may set
each in the browser (/admin/organization) without a restart, and clear it to go back to the
server's. Every change is audited with what it was before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlmodel import Session

from relief.accounts import normal_email
from relief.config import ConfigError, ein_setting
from relief.errors import DomainError
from relief.models import ReceiptSettings, utcnow
from relief.reports.receipt import Issuer

SETTINGS_ID = 1

#: The editable fields: (the row's column, the server setting it overrides, its label).
FIELDS: tuple[tuple[str, str, str], ...] = (
    ("legal_name", "RELIEF_ORG_LEGAL_NAME", "Legal name"),
    ("ein", "RELIEF_ORG_EIN", "EIN"),
    ("address", "RELIEF_ORG_ADDRESS", "Address"),
    ("contact_email", "RELIEF_CONTACT_EMAIL", "Contact email"),
    ("statement", "RELIEF_RECEIPT_STATEMENT", "Tax statement"),
)


@dataclass(frozen=True)
class ReceiptFields:
    """What the admin's form shows: the values an admin set ("" where the server's apply)."""

    legal_name: str = ""
    ein: str = ""
    address: str = ""
    contact_email: str = ""
    statement: str = ""


def saved(session: Session) -> ReceiptFields:
    row = session.get(ReceiptSettings, SETTINGS_ID)
    if row is None:
        return ReceiptFields()
    return ReceiptFields(**{column: getattr(row, column) for column, _setting, _label in FIELDS})


def issuer(session: Session, config: Mapping) -> Issuer:
    """What a receipt prints: the admin's value where one is set, else the server's."""
    chosen = saved(session)
    return Issuer(
        name=config["RELIEF_ORG_NAME"],
        legal_name=chosen.legal_name
        or config.get("RELIEF_ORG_LEGAL_NAME")
        or config["RELIEF_ORG_NAME"],
        ein=chosen.ein or config.get("RELIEF_ORG_EIN", ""),
        address=chosen.address or config.get("RELIEF_ORG_ADDRESS", ""),
        contact=chosen.contact_email or config.get("RELIEF_CONTACT_EMAIL", ""),
        statement=chosen.statement or config["RELIEF_RECEIPT_STATEMENT"],
    )


def contact_email(session: Session, config: Mapping) -> str:
    """Where donors write with questions (the gift page, receipts, emails)."""
    return saved(session).contact_email or config.get("RELIEF_CONTACT_EMAIL", "")


def save(session: Session, fields: ReceiptFields, by: str) -> str:
    """Keep the admin's values (``by``: their email). What changed, from what to what, for
    the audit line; "" when nothing did."""
    try:
        ein = ein_setting(fields.ein)
    except ConfigError:
        raise DomainError(
            f"An EIN is nine digits such as 12-3456789; {fields.ein[:30]!r} is not one."
        ) from None
    contact = fields.contact_email.strip()
    if contact:
        contact = normal_email(contact)
    wanted = ReceiptFields(
        legal_name=fields.legal_name.strip(),
        ein=ein,
        address=fields.address.strip(),
        contact_email=contact,
        statement=fields.statement.strip(),
    )
    before = saved(session)
    changed = [
        (column, label)
        for column, _setting, label in FIELDS
        if getattr(before, column) != getattr(wanted, column)
    ]
    if not changed:
        return ""
    row = session.get(ReceiptSettings, SETTINGS_ID) or ReceiptSettings(id=SETTINGS_ID)
    for column, _label in changed:
        setattr(row, column, getattr(wanted, column))
    row.updated_at = utcnow()
    row.updated_by = by
    session.add(row)
    session.flush()
    return "; ".join(
        f"{label}: {getattr(before, column) or '(server setting)'!r} → "
        f"{getattr(wanted, column) or '(server setting)'!r}"
        for column, label in changed
    )
