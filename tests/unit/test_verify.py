"""The verifier's chain is the app's chain, and both are the one docs/verify.md writes down."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone

from relief import verify
from relief.ledger import fingerprint
from relief.models import EntryKind

#: docs/verify.md's example, and the link it states.
EXAMPLE = {
    "id": 1,
    "kind": "gift",
    "amount_cents": 60000,
    "currency": "USD",
    "chapter_id": 1,
    "gift": 1,
    "at": "2026-03-01T14:05:09+00:00",
}
EXAMPLE_LINK = "09c55cf72b334589eccfabe889cb9129ebec0ce6b800e8d68a5e3147ae3e1722"


def test_the_documented_example_is_what_the_app_and_the_verifier_compute():
    moment = datetime(2026, 3, 1, 14, 5, 9, 987654, tzinfo=UTC)  # the second is what counts
    assert fingerprint.moment(moment) == EXAMPLE["at"]
    app = fingerprint.link("", 1, EntryKind.GIFT, 60000, "USD", 1, 1, moment)
    assert app == verify.link("", EXAMPLE) == EXAMPLE_LINK


def test_a_moment_given_in_another_zone_is_hashed_as_its_utc_instant():
    """The database hands every time back in UTC: the chain written at append must hash the
    same text as a replay of the stored entry (it hashed the offset given before)."""
    central = timezone(timedelta(hours=-6))
    moment = datetime(2026, 3, 1, 8, 5, 9, tzinfo=central)
    assert fingerprint.moment(moment) == "2026-03-01T14:05:09+00:00"


def test_negative_amounts_and_null_chapter_and_gift_hash_as_documented():
    entry = {**EXAMPLE, "kind": "refund", "amount_cents": -500, "chapter_id": None, "gift": None}
    text = f"{EXAMPLE_LINK}|1|refund|-500|USD|0|0|2026-03-01T14:05:09+00:00"
    assert verify.link(EXAMPLE_LINK, entry) == hashlib.sha256(text.encode()).hexdigest()


def test_addresses_the_verifier_takes():
    assert verify.drive_address("https://x.org/drives/mo-2026") == ("https://x.org", "mo-2026")
    assert verify.drive_address("https://x.org/drives/mo-2026/ledger?after=3") == (
        "https://x.org",
        "mo-2026",
    )
    assert verify.drive_address("http://127.0.0.1:5000/api/drives/a-b") == (
        "http://127.0.0.1:5000",
        "a-b",
    )
    assert verify.drive_address("https://x.org/relief/drives/d/") == ("https://x.org/relief", "d")
