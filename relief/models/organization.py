"""What receipts say about who received the money, as an admin set it in the browser."""

from datetime import datetime

from sqlmodel import Field, SQLModel

from relief.models.base import utcnow


class ReceiptSettings(SQLModel, table=True):
    """One row (id 1), kept by relief/organization.py. An empty field falls back to the
    server's setting (RELIEF_ORG_LEGAL_NAME, RELIEF_ORG_EIN, RELIEF_ORG_ADDRESS,
    RELIEF_CONTACT_EMAIL, RELIEF_RECEIPT_STATEMENT), so a fresh install needs no row."""

    __tablename__ = "receipt_settings"
    id: int | None = Field(default=None, primary_key=True)
    legal_name: str = Field(default="", max_length=200)
    #: 12-3456789, checked by config.ein_setting.
    ein: str = Field(default="", max_length=10)
    address: str = Field(default="", max_length=300)
    contact_email: str = Field(default="", max_length=320)
    statement: str = Field(default="", max_length=2000)
    updated_at: datetime = Field(default_factory=utcnow)
    #: The admin's email.
    updated_by: str = Field(default="", max_length=320)
