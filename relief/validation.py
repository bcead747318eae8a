"""Checks of text people type into the app's forms and commands, shared by every service."""

from __future__ import annotations

from relief.errors import InvalidInput


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


#: Chapter slugs the app's own URLs use under /drives/<slug>/: ``p`` holds members' pages
#: (/drives/<slug>/p/<name>), so no chapter may be called that.
RESERVED_SLUGS = ("p",)
