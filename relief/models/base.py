"""What every table shares: the naming convention, UTC now, public ids, enums stored as text."""

from __future__ import annotations

import enum
import secrets
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import Column, MetaData, Table
from sqlalchemy import Enum as SAEnum
from sqlmodel import SQLModel

# Stable constraint names, so Alembic migrations are the same on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    """Now, timezone-aware in UTC (the database stores and returns UTC)."""
    return datetime.now(UTC)


def new_public_id() -> str:
    """128 random bits, URL-safe; never starting with "-", which a command line would take
    for an option (`flask stripe assign <id> …`)."""
    while True:
        value = secrets.token_urlsafe(16)
        if value[0] != "-":
            return value


T = TypeVar("T")


def present(value: T | None) -> T:
    """``value``, known to be set: the id of a row read from the database (SQLModel types ids
    Optional for rows not yet inserted), or a column the query required to be set."""
    assert value is not None, "read from the database, where it is set"
    return value


def table_of(model: type[SQLModel]) -> Table:
    """A table model's Core table, for statements that bypass the ORM."""
    # SQLModel declares no ``__table__`` for type checkers; every table=True class has one.
    return model.__table__  # type: ignore[attr-defined]


def _enum(cls: type[enum.Enum], **column) -> Column:
    # Stored as the value's text (VARCHAR + CHECK), portable across both databases.
    return Column(
        SAEnum(
            cls,
            values_callable=lambda e: [m.value for m in e],
            native_enum=False,
            create_constraint=True,
            length=24,
            name=cls.__name__.lower(),
        ),
        nullable=False,
        **column,
    )
