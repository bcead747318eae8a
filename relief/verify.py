"""Check a Relief drive's published figures yourself, with nothing but Python 3.

    python3 verify.py https://relief.example.org/drives/mo-2026
    python3 verify.py https://relief.example.org/drives/mo-2026 --pdf mo-2026.pdf

It reads the drive's figures (``/api/drives/<slug>``) and every entry of its public ledger
(``/api/drives/<slug>/entries``, page by page), adds the entries up, recomputes the ledger
fingerprint, and prints each figure with OK when the site's figure is what the entries add up
to. It also reads the fingerprint printed in the press report (fetched from the site, or the
PDF you give with ``--pdf``; a PDF from an earlier day is matched to the moment it shows).
Exit status: 0 when everything matches, 1 when something differs (the first entry where they
part is named), 2 when it could not check (the site did not answer as a Relief site does).

The fingerprint, byte for byte (Relief's docs/verify.md says the same):

* Start with the empty string. For each entry, oldest (lowest id) first, join with ``|``:
  the previous link, the entry's ``id``, ``kind``, ``amount_cents`` (signed, no separators),
  ``currency``, ``chapter_id`` (``0`` when null), ``gift`` (``0`` when null) and ``at``
  (``YYYY-MM-DDTHH:MM:SS+00:00``). The link is the lowercase hex SHA-256 of that text in
  UTF-8. Each entry is published with ``link``, the link recorded when it was written.
* The fingerprint is the last link; a drive without entries has 64 zeros.

What the figures are (relief/ledger/figures.py): gifts received = the sum of ``gift`` entries,
and the gift count adds one per positive and takes one per negative ``gift`` entry; refunds =
minus the sum of ``refund`` entries; disputed = minus the sum of ``dispute_withdrawn`` and
``dispute_reinstated``; corrections = the sum of ``correction``; fees = the sum of ``fee``;
remitted = the sum of ``remittance``; raised = gifts − refunds − disputed + corrections; net =
raised − fees.

This file uses only Python's standard library, so it can be read in full before it is run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import zlib

EMPTY = "0" * 64
PAGE_SIZE = 1000
KINDS = (
    "gift",
    "fee",
    "refund",
    "dispute_withdrawn",
    "dispute_reinstated",
    "remittance",
    "correction",
)
MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\Z")
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
OK, DIFFERS, CANNOT_CHECK = 0, 1, 2


class CannotCheck(Exception):
    """The site could not be read as a Relief drive: a sentence for the reader."""


def link(previous: str, entry: dict) -> str:
    """The fingerprint chain extended by one published entry."""
    text = "|".join(
        str(part)
        for part in (
            previous,
            entry["id"],
            entry["kind"],
            entry["amount_cents"],
            entry["currency"],
            entry["chapter_id"] or 0,
            entry["gift"] or 0,
            entry["at"],
        )
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Sums:
    """The figures of relief/ledger/figures.py, added up from published entries."""

    def __init__(self) -> None:
        self.gifts = self.refunds = self.disputes = self.corrections = 0
        self.fees = self.remitted = self.gift_count = self.entries = 0

    def add(self, entry: dict) -> None:
        kind, cents = entry["kind"], entry["amount_cents"]
        if kind == "gift":
            self.gifts += cents
            self.gift_count += 1 if cents > 0 else -1
        elif kind == "refund":
            self.refunds -= cents
        elif kind in ("dispute_withdrawn", "dispute_reinstated"):
            self.disputes -= cents
        elif kind == "correction":
            self.corrections += cents
        elif kind == "fee":
            self.fees += cents
        elif kind == "remittance":
            self.remitted += cents
        self.entries += 1

    @property
    def raised(self) -> int:
        return self.gifts - self.refunds - self.disputes + self.corrections

    @property
    def net(self) -> int:
        return self.raised - self.fees


def money(cents: int, currency: str) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency}"


def drive_address(url: str) -> tuple[str, str]:
    """(the site's base address, the drive's slug) from a drive page's address, its ledger,
    or its API address."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CannotCheck(
            f"Give the drive page's address, e.g. https://host/drives/<slug>: {url!r}"
        )
    found = re.match(r"(?P<prefix>.*?)(?:/api)?/drives/(?P<slug>[^/?#]+)", parts.path)
    if not found:
        raise CannotCheck(f"{url} is not a drive's address (…/drives/<slug>).")
    base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, found["prefix"], "", ""))
    return base, urllib.parse.unquote(found["slug"])


def fetch(url: str, timeout: float) -> bytes:
    # Only http(s) addresses get here: drive_address and _read_pdf refuse any other scheme.
    request = urllib.request.Request(url, headers={"User-Agent": "relief-verify/1"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.read()
    except urllib.error.HTTPError as error:
        detail = error.read(2000).decode("utf-8", "replace")
        try:
            detail = json.loads(detail)["error"]
        except (ValueError, KeyError, TypeError):
            detail = ""
        raise CannotCheck(f"{url} answered {error.code}. {detail}".strip()) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise CannotCheck(f"{url} could not be read: {reason}") from None


def fetch_json(url: str, timeout: float) -> dict:
    try:
        document = json.loads(fetch(url, timeout))
    except ValueError:
        raise CannotCheck(f"{url} did not answer with JSON: is it a Relief site?") from None
    if not isinstance(document, dict):
        raise CannotCheck(f"{url} did not answer with a JSON object.")
    return document


def _bad_entry(entry, previous_id: int) -> str | None:
    """Why a published entry cannot be checked; None when it is well formed."""
    if not isinstance(entry, dict):
        return "is not an object"
    number = (int,)
    checks = (
        ("id", lambda v: isinstance(v, number) and v > previous_id),
        ("kind", lambda v: v in KINDS),
        ("amount_cents", lambda v: isinstance(v, number) and not isinstance(v, bool)),
        ("currency", lambda v: isinstance(v, str) and len(v) == 3),
        ("chapter_id", lambda v: v is None or isinstance(v, number)),
        ("gift", lambda v: v is None or isinstance(v, number)),
        ("at", lambda v: isinstance(v, str) and MOMENT.match(v) is not None),
    )
    for name, good in checks:
        if name not in entry or not good(entry[name]):
            if name == "id":
                return f"has id {entry.get('id')!r}, not one above the entry before ({previous_id})"
            return f"has a bad {name!r}: {entry.get(name)!r}"
    return None


def _describe(entry: dict) -> str:
    return (
        f"entry #{entry['id']} ({entry['at']}, {entry['kind'].replace('_', ' ')}, "
        f"{money(entry['amount_cents'], entry['currency'])})"
    )


def pdf_fingerprint(data: bytes) -> str | None:
    """The full ledger fingerprint a Relief press report carries (its description, in the PDF's
    metadata), read with zlib alone; None when it cannot be found."""
    pattern = re.compile(rb"fingerprint\W{0,40}([0-9a-f]{64})", re.IGNORECASE)
    blobs = [data]
    for start in re.finditer(rb"stream\r?\n", data):
        end = data.find(b"endstream", start.end())
        if end == -1:
            continue
        try:
            blobs.append(zlib.decompressobj().decompress(data[start.end() : end]))
        except zlib.error:
            continue
    for blob in blobs:
        found = pattern.search(blob)
        if found:
            return found[1].decode().lower()
        # Text outside ASCII is stored as hex UTF-16 strings: <FEFF…>.
        for hex_text in re.findall(rb"<FEFF([0-9A-Fa-f\s]+)>", blob):
            try:
                text = bytes.fromhex(hex_text.decode()).decode("utf-16-be", "replace")
            except ValueError:
                continue
            found_text = re.search(r"fingerprint\W{0,40}([0-9a-f]{64})", text, re.IGNORECASE)
            if found_text:
                return found_text[1].lower()
    return None


def check(url: str, pdf: str | None = "fetch", timeout: float = 60.0, out=print) -> int:
    """Check the drive at ``url``; ``pdf``: a file or address of its press report, "fetch"
    for the site's own, None for none. Prints what it finds; returns the exit status."""
    base, slug = drive_address(url)
    quoted = urllib.parse.quote(slug, safe="")
    summary = fetch_json(f"{base}/api/drives/{quoted}", timeout)
    try:
        currency = summary["currency"]
        counted = int(summary["entry_count"])
        fingerprint = summary["fingerprint"]
    except (KeyError, TypeError, ValueError):
        raise CannotCheck(f"{base}/api/drives/{quoted} is not a Relief drive's figures.") from None

    pdf_name, pdf_print = _read_pdf(pdf, base, quoted, timeout)

    sums = Sums()
    chain, at_count = "", EMPTY if counted == 0 else None
    previous_id, extra, last_counted, pdf_state = 0, 0, None, None
    pages, after = 0, None
    while True:
        query = {"limit": PAGE_SIZE} if after is None else {"limit": PAGE_SIZE, "after": after}
        page = fetch_json(
            f"{base}/api/drives/{quoted}/entries?{urllib.parse.urlencode(query)}", timeout
        )
        pages += 1
        entries = page.get("entries")
        if not isinstance(entries, list):
            raise CannotCheck(f"Page {pages} of the entries holds no list of entries.")
        for entry in entries:
            problem = _bad_entry(entry, previous_id)
            if problem:
                out(f"DIFFERS: the entry after #{previous_id} {problem}.")
                return DIFFERS
            previous_id = entry["id"]
            chain = link(chain, entry)
            if entry.get("link") != chain:
                out(
                    f"DIFFERS: {_describe(entry)} no longer hashes to the link recorded when "
                    f"it was written: it was changed since (recomputed {chain[:16]}…, "
                    f"recorded {str(entry.get('link'))[:16]}…)."
                )
                return DIFFERS
            if pdf_print == chain:
                pdf_state = entry
            if sums.entries < counted:
                sums.add(entry)
                if sums.entries == counted:
                    at_count, last_counted = chain, entry
            else:
                extra += 1
        after = page.get("next_after")
        if after is None:
            break

    out(f"Drive {slug} at {base}: {sums.entries + extra} entries read in {pages} page(s).")
    if sums.entries < counted:
        out(
            f"DIFFERS: the site counts {counted} entries but publishes only {sums.entries}; "
            f"the last published is #{previous_id}."
        )
        return DIFFERS
    rows = [
        ("raised", sums.raised, summary.get("raised_cents")),
        ("gifts received", sums.gifts, summary.get("gifts_cents")),
        ("refunds", sums.refunds, summary.get("refunds_cents")),
        ("disputed, withheld", sums.disputes, summary.get("disputes_cents")),
        ("corrections", sums.corrections, summary.get("corrections_cents")),
        ("fees", sums.fees, summary.get("fees_cents")),
        ("net", sums.net, summary.get("net_cents")),
        ("remitted", sums.remitted, summary.get("remitted_cents")),
    ]
    status = OK
    for name, ours, theirs in rows:
        agrees = ours == theirs
        status = status if agrees else DIFFERS
        said = "OK" if agrees else f"DIFFERS: the site says {_figure(theirs, currency)}"
        out(f"  {name:<20} {money(ours, currency):>22}  {said}")
    for name, ours, theirs in (
        ("gifts (count)", sums.gift_count, summary.get("donation_count")),
        ("entries", sums.entries, counted),
    ):
        agrees = ours == theirs
        status = status if agrees else DIFFERS
        out(f"  {name:<20} {ours:>22,}  {'OK' if agrees else f'DIFFERS: the site says {theirs}'}")
    agrees = at_count == fingerprint
    status = status if agrees else DIFFERS
    out(f"  fingerprint          {at_count}")
    out(f"  {'':<20} {'':>22}  {'OK' if agrees else f'DIFFERS: the site says {fingerprint}'}")
    if extra:
        out(
            f"  ({extra} entries were added while checking; the figures above are the site's "
            f"as of entry #{last_counted['id'] if last_counted else 0}.)"
        )
    status = max(status, _report_pdf(out, pdf_name, pdf_print, pdf_state, fingerprint))
    if status == OK:
        out(
            "OK: the published entries add up to every figure the site shows and hash to "
            "its fingerprint."
        )
    else:
        out("DIFFERS: see above.")
    return status


def _figure(value, currency: str) -> str:
    return money(value, currency) if isinstance(value, int) else "nothing"


def _read_pdf(pdf: str | None, base: str, quoted: str, timeout: float):
    """(what the PDF is called, the fingerprint it carries or None)."""
    if pdf is None:
        return None, None
    if pdf == "fetch":
        pdf = f"{base}/drives/{quoted}/report.pdf"
    if re.match(r"https?://", pdf):
        data = fetch(pdf, timeout)
    else:
        try:
            with open(pdf, "rb") as file:
                data = file.read()
        except OSError as error:
            raise CannotCheck(f"The PDF {pdf} cannot be read: {error.strerror}.") from None
    return pdf, pdf_fingerprint(data)


def _report_pdf(out, name, printed, state, fingerprint) -> int:
    if name is None:
        return OK
    if printed is None:
        out(
            f"  press PDF: its fingerprint could not be read from {name}; compare by eye: its "
            f'method section should say "Ledger fingerprint {fingerprint[:16]}".'
        )
        return OK
    if printed == fingerprint:
        out(f"  press PDF            {printed[:16]}…  OK ({name})")
        return OK
    if state is not None:
        out(
            f"  press PDF            {printed[:16]}…  OK for the books as of {_describe(state)}; "
            "entries came after it."
        )
        return OK
    if printed == EMPTY:
        out(f"  press PDF            {printed[:16]}…  OK for the books before any entry.")
        return OK
    out(
        f"  press PDF            {printed[:16]}…  DIFFERS: no state of these books has that "
        "fingerprint, so an entry before the day it was printed changed."
    )
    return DIFFERS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m relief.verify",
        description="Recompute a Relief drive's figures and fingerprint from its public ledger.",
    )
    parser.add_argument("url", help="the drive page's address, e.g. https://host/drives/mo-2026")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pdf", help="a press report (file or address) whose fingerprint to check")
    source.add_argument(
        "--no-pdf", action="store_true", help="do not fetch the site's press report"
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    arguments = parser.parse_args(argv)
    pdf = None if arguments.no_pdf else (arguments.pdf or "fetch")
    try:
        return check(arguments.url, pdf, arguments.timeout)
    except CannotCheck as error:
        print(f"Could not check: {error}", file=sys.stderr)
        return CANNOT_CHECK


if __name__ == "__main__":
    sys.exit(main())
