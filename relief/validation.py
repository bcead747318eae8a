"""Checks of text people type into the app's forms and commands, shared by every service."""

from __future__ import annotations

import re

from relief.errors import InvalidInput

#: An email address as far as a form can tell: something@somewhere.tld, no spaces.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
#: Words a chapter's slug may not be: /drives/<drive>/<chapter> is a catch-all, and these are
#: (or will be) the drive's own pages beside it — its image, public ledger, donate form, …
#: One list: add a word here when a new page takes a place under /drives/<drive>/.
RESERVED_SLUGS = ("image", "ledger", "donate", "qr", "report", "embed", "p", "card")


def check_text(value: str, what: str, max_length: int, required: bool = True) -> str:
    """``value`` stripped, with line breaks as typed; InvalidInput naming ``what`` if it is
    missing (when ``required``), longer than ``max_length`` or holds control characters."""
    # Browsers send a textarea's line breaks as CRLF: one newline each, as typed.
    value = (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not value:
        raise InvalidInput(f"The {what} is required.")
    if len(value) > max_length:
        raise InvalidInput(f"The {what} must be at most {max_length} characters.")
    if any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise InvalidInput(f"The {what} contains control characters.")
    return value


def check_not_reserved(slug: str, what: str) -> str:
    """``slug`` unless it is one of :data:`RESERVED_SLUGS`; else InvalidInput naming it."""
    if slug in RESERVED_SLUGS:
        raise InvalidInput(
            f"“{slug}” cannot be a {what} slug: the drive's own page /drives/…/{slug} has it. "
            "Choose another, such as the city or county."
        )
    return slug
