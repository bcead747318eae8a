"""The outbox: work due after a change committed (send this email, read this fee), written in
the same transaction as the change, so it exists if and only if the change committed."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel

from relief.models.base import _enum, utcnow


class JobStatus(enum.StrEnum):
    QUEUED = "queued"  # waits for ``run_after``
    RUNNING = "running"  # claimed by a worker until ``locked_until``
    DONE = "done"
    FAILED = "failed"  # gave up (a permanent refusal, or every attempt used): an admin retries
    KEPT = "kept"  # an email with no SMTP server configured: kept here, sent on retry


class Job(SQLModel, table=True):
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # What a worker claims next: due queued jobs, and running ones whose lease expired.
        Index("ix_job_status_run_after", "status", "run_after"),
    )
    id: int | None = Field(default=None, primary_key=True)
    #: What runs it: "fee" (read a gift's Stripe fee) or "mail" (send an email).
    kind: str = Field(max_length=32)
    #: Once per key, e.g. ``receipt:gift:12`` or ``fee:gift:12``: a retried webhook or a
    #: crashed worker never makes the same work twice.
    key: str = Field(max_length=255, unique=True)
    #: JSON: ids only (the gift, the refund), never a donor's data, so erasure has nothing
    #: to scrub here.
    payload: str = Field(default="{}", max_length=2000)
    status: JobStatus = Field(sa_column=_enum(JobStatus))
    #: Runs started so far (a run cut short by a dead worker counts too).
    attempts: int = 0
    run_after: datetime = Field(default_factory=utcnow)
    #: While running: the worker that claimed it and when its lease ends (then another
    #: worker may take it over).
    claimed_by: str | None = Field(default=None, max_length=64)
    locked_until: datetime | None = None
    #: The last failure, in a sentence for the admin (a kept email says why it was kept).
    last_error: str | None = Field(default=None, max_length=1000)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
