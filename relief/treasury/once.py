"""Money forms record once: a one-time token per rendered form, and the paper's own keys.

Every money form carries a random token (``forms.FormTokenField``, a new one each time the
form is rendered). The service that records the form claims the token first, in the same
unit of work as the record: a repeat of the same token — a double click, the back button, a
browser's resend — finds the stored token and raises :class:`AlreadyRecorded` with the first
record, never recording a second time. The token is the row's primary key, so of two identical
POSTs racing, the second waits for the first's commit and then loses on that key; the view
runs the service through ``boundary.retry_on_conflict``, whose second run finds the token and
answers "already recorded". A refused form rolls its claim back with everything else, so the
corrected form may be sent again with the same token.

Where the paper has a key of its own (a partner's reference with a check number, a remittance's
reference, a deposit slip's number), the service also looks for it, and a unique index guards
it against the race: a fresh token with the same paper answers "already recorded" too.

To make a money form record once (a partner report, say):

1. the form gets ``form_token = FormTokenField()`` (``form.hidden_tag()`` renders it);
2. the service takes ``form_token: str | None = None`` and calls
   ``used = once.claim(session, chapter, form_token, FormPurpose.X, user)`` before anything
   else and ``once.settle(used, record.id)`` once the record has its id;
3. the view calls the service inside ``boundary.retry_on_conflict(lambda: …)`` instead of
   ``boundary.attempt()`` and shows ``first_record(failure)`` beside the error (treasurer
   blueprint), which links to the first record.

CLI and tests that call services directly pass no token: only a form can be sent twice.
"""

from __future__ import annotations

import re
import secrets

from sqlmodel import Session

from relief.errors import Conflict, InvalidInput
from relief.models import Chapter, FormPurpose, FormToken, User

#: What ``new_token`` makes (32 URL-safe characters) and what a form may send back.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{16,64}")


class AlreadyRecorded(Conflict):
    """This form or this paper is recorded already: ``purpose`` and ``record_id`` say where
    the first record is."""

    def __init__(self, message: str, purpose: FormPurpose, record_id: int | None):
        super().__init__(message)
        self.purpose = purpose
        self.record_id = record_id


def new_token() -> str:
    """A fresh token for one rendering of a money form (192 random bits)."""
    return secrets.token_urlsafe(24)


def claim(
    session: Session,
    chapter: Chapter,
    token: str | None,
    purpose: FormPurpose,
    user: User | None = None,
) -> FormToken | None:
    """Mark ``token`` used for ``purpose`` in ``chapter``; flushes. None when no token is given
    (a command or a test calling the service directly).

    Raises AlreadyRecorded if the token was used before, pointing at its record; a token
    inserted meanwhile by a concurrent request raises IntegrityError on the flush (the caller's
    retry then finds it)."""
    if token is None:
        return None
    if not _TOKEN_SHAPE.fullmatch(token):
        raise InvalidInput("This form is out of date; reload the page and enter it again.")
    used = session.get(FormToken, token)
    if used is not None:
        if used.chapter_id != chapter.id or used.purpose is not purpose:
            raise InvalidInput("This form was already used; reload the page and enter it again.")
        raise AlreadyRecorded(
            "Already recorded: this form was sent before. Nothing was recorded a second time.",
            purpose,
            used.record_id,
        )
    assert chapter.id is not None  # a stored chapter, as every treasurer screen has
    used = FormToken(
        token=token,
        chapter_id=chapter.id,
        purpose=purpose,
        used_by_id=user.id if user is not None else None,
    )
    session.add(used)
    session.flush()
    return used


def settle(used: FormToken | None, record_id: int | None) -> None:
    """Point a claimed token at what its form recorded (the link a repeat shows)."""
    if used is not None:
        used.record_id = record_id
