"""Sharing a drive: its share card (the 1200×630 PNG chats and social sites show beside a
link), the words a donor shares after giving, and the origins allowed to embed it.

Every figure here is read from the :class:`~relief.drive_pages.DriveView` the page and the
API render, formatted by :mod:`relief.money`; nothing is recomputed. The card draws exactly
the lines :func:`card_text` returns, so a test can compare them with the API.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import astuple, dataclass
from functools import cache
from urllib.parse import urlsplit

from flask_babel import gettext
from PIL import Image, ImageDraw, ImageFont
from sqlmodel import Session

from relief import money
from relief.drive_pages import DriveView
from relief.errors import InvalidInput
from relief.models import Drive

WIDTH, HEIGHT = 1200, 630
MARGIN = 72
FONTS = "/usr/share/fonts/truetype/dejavu/"  # Debian's fonts-dejavu-core
BOLD, REGULAR = FONTS + "DejaVuSans-Bold.ttf", FONTS + "DejaVuSans.ttf"
# The page's colours (relief.css): ink, muted, background, accent, the bar's track.
INK, MUTED, BACKGROUND = "#1b1f23", "#4a5560", "#fbfaf7"
ACCENT, BAR_TRACK = "#0b6e4f", "#e4efe9"


@dataclass(frozen=True)
class CardText:
    """The lines a share card draws, each as it reads."""

    title: str
    #: The chapter's side of the drive ("St. Louis chapter"), or None for the whole drive.
    chapter: str | None
    #: "$1,234.50 raised"
    raised: str
    #: "of $1,600.00 goal", or "" for a chapter without a sub-goal.
    goal: str
    #: How full the bar is, 0 to 100.
    bar_percent: int
    #: "77% of the goal", or "" without a goal.
    percent: str
    #: "About $160,000 of medical debt relieved"
    relief: str
    #: "Every $1 relieves about $100 of medical debt (an estimate)."
    per_dollar: str

    @property
    def version(self) -> str:
        """A short digest of what the card shows: in og:image's URL, so a chat that kept an
        old picture fetches the new one once the figures change."""
        data = repr(astuple(self)).encode()
        return hashlib.blake2b(data, digest_size=6, person=b"card-v1").hexdigest()


def card_text(view: DriveView) -> CardText:
    """What the share card of ``view`` says, in the visitor's language: the drive's raised of
    goal (or, on a chapter's side, the chapter's raised of its sub-goal, as the chapter page
    shows it), the projected relief of the whole drive and what $1 relieves."""
    drive, totals, part = view.drive, view.totals, view.chapter_part
    cur = drive.currency
    goal: int | None
    if part is None:
        raised, goal = totals.raised_cents, drive.goal_cents
    else:
        raised, goal = part.figures.raised_cents, part.goal_cents
    one = 100  # a whole unit of the currency, in cents
    relief = money.format_whole(totals.projected_relief_cents, cur)
    return CardText(
        title=drive.title,
        chapter=gettext("%(chapter)s chapter", chapter=part.name) if part is not None else None,
        raised=gettext("%(amount)s raised", amount=money.format(raised, cur)),
        goal=gettext("of %(goal)s goal", goal=money.format(goal, cur)) if goal else "",
        bar_percent=money.bar_percent(raised, goal),
        percent=(
            gettext("%(percent)s%% of the goal", percent=f"{money.percent_of(raised, goal):,}")
            if goal
            else ""
        ),
        relief=(
            gettext("About %(relief)s of medical debt relieved", relief=relief)
            if part is None
            else gettext(
                "About %(relief)s of medical debt relieved by the whole drive", relief=relief
            )
        ),
        per_dollar=gettext(
            "Every %(one)s relieves about %(relief)s of medical debt (an estimate).",
            one=money.format_whole(one, cur),
            relief=money.format_whole(money.apply_ratio(one, drive.ratio_hundredths), cur),
        ),
    )


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def _width(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont) -> float:
    return draw.textlength(text, font=font)


def _fitting(draw, text: str, path: str, size: int, smallest: int, width: int):
    """The largest font from ``size`` down to ``smallest`` that sets ``text`` in ``width``."""
    while size > smallest and _width(draw, text, _font(path, size)) > width:
        size -= 2
    return _font(path, size)


def _ellipsize(draw, text: str, font, width: int) -> str:
    if _width(draw, text, font) <= width:
        return text
    while text and _width(draw, text + "…", font) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def _wrap(draw, text: str, font, width: int) -> list[str]:
    """``text`` in lines no wider than ``width``; a word longer than a line is cut."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}".strip()
        if _width(draw, candidate, font) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while _width(draw, word, font) > width:  # a word wider than the card
            cut = len(word)
            while cut > 1 and _width(draw, word[:cut], font) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines


def _title_lines(draw, title: str, width: int, room: int) -> tuple[list, ImageFont.FreeTypeFont]:
    """The title wrapped in the largest size whose lines fit ``room`` pixels of height; at
    the smallest size, cut to three lines with an ellipsis: it never overflows."""
    for size in (64, 58, 52, 46, 40):
        font = _font(BOLD, size)
        lines = _wrap(draw, title, font, width)
        if len(lines) * size * 1.2 <= room:
            return lines, font
    lines = _wrap(draw, title, font, width)
    most = max(1, int(room // (40 * 1.2)))
    if len(lines) > most:
        lines = lines[:most]
        lines[-1] = _ellipsize(draw, lines[-1] + " …", font, width)
    return lines, font


def card_png(text: CardText, org_name: str) -> bytes:
    """The share card: 1200×630 PNG of ``text``, set in DejaVu Sans."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    inner = WIDTH - 2 * MARGIN
    draw.rectangle((0, 0, WIDTH, 14), fill=ACCENT)

    y = 48
    eyebrow = org_name if text.chapter is None else f"{org_name} · {text.chapter}"
    font = _font(REGULAR, 28)
    draw.text((MARGIN, y), _ellipsize(draw, eyebrow, font, inner), font=font, fill=MUTED)
    y += 50

    lines, font = _title_lines(draw, text.title, inner, room=212)
    for line in lines:
        draw.text((MARGIN, y), line, font=font, fill=INK)
        y += int(font.size * 1.2)

    # The figures sit at fixed places from the bottom, whatever the title's length.
    y = 340
    raised = _fitting(draw, f"{text.raised} {text.goal}".strip(), BOLD, 56, 30, inner)
    draw.text((MARGIN, y), text.raised, font=raised, fill=INK)
    if text.goal:
        goal = _font(REGULAR, raised.size)
        left = MARGIN + _width(draw, text.raised + " ", raised)
        draw.text((left, y), text.goal, font=goal, fill=MUTED)

    y = 420
    if text.goal:  # no bar where there is no goal to fill (a chapter without a sub-goal)
        draw.rounded_rectangle((MARGIN, y, WIDTH - MARGIN, y + 36), radius=18, fill=BAR_TRACK)
        if text.bar_percent > 0:
            filled = max(36, inner * text.bar_percent // 100)
            draw.rounded_rectangle((MARGIN, y, MARGIN + filled, y + 36), radius=18, fill=ACCENT)
        font = _font(REGULAR, 24)
        draw.text((WIDTH - MARGIN, y + 42), text.percent, font=font, fill=MUTED, anchor="ra")

    y = 498
    font = _fitting(draw, text.relief, BOLD, 40, 24, inner)
    draw.text((MARGIN, y), text.relief, font=font, fill=ACCENT)
    font = _fitting(draw, text.per_dollar, REGULAR, 26, 18, inner)
    draw.text((MARGIN, y + 62), text.per_dollar, font=font, fill=MUTED)

    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- After giving ------------------------------------------------------------------------------


def impact_text(relief_cents: int, currency: str, amount_cents: int | None = None) -> str:
    """What a donor shares after giving: the debt their gift relieves, never who they are, and
    their amount only when they chose to include it (``amount_cents``)."""
    relief = money.format_whole(relief_cents, currency)
    if amount_cents is None:
        return gettext("I just helped relieve about %(relief)s of medical debt.", relief=relief)
    return gettext(
        "I just gave %(amount)s and helped relieve about %(relief)s of medical debt.",
        amount=money.format(amount_cents, currency),
        relief=relief,
    )


# --- Embedding ---------------------------------------------------------------------------------

#: How many sites a drive may be embedded on.
MOST_EMBED_ORIGINS = 20


def parse_origins(typed: str) -> list[str]:
    """The origins an organizer typed (one a line, or separated by spaces or commas), each
    ``https://host`` or ``https://host:port``, in the form browsers compare them in
    (lower case, no trailing slash); InvalidInput with a sentence naming the first bad one."""
    origins: list[str] = []
    for item in typed.replace(",", " ").split():
        origin = _origin(item)
        if origin not in origins:
            origins.append(origin)
    if len(origins) > MOST_EMBED_ORIGINS or len("\n".join(origins)) > 2000:
        raise InvalidInput(
            f"List at most {MOST_EMBED_ORIGINS} sites (2,000 characters) that may embed the drive."
        )
    return origins


def _origin(item: str) -> str:
    refusal = InvalidInput(
        f"“{item[:80]}” is not a site's address: give each as https://example.org "
        "(or with a port, https://example.org:8443), without a path."
    )
    if any(c in item for c in ";'\"*\\") or not item.isascii():
        raise refusal
    try:
        parts = urlsplit(item.rstrip("/"))
        port = parts.port
    except ValueError:
        raise refusal from None
    host = (parts.hostname or "").lower()
    if parts.scheme.lower() != "https" or not host or parts.path or parts.query or parts.fragment:
        raise refusal
    if parts.username is not None or parts.password is not None or "." not in host.strip("."):
        raise refusal
    if not all(c.isalnum() or c in "-." for c in host):
        raise refusal
    return f"https://{host}" + (f":{port}" if port and port != 443 else "")


def set_embed_origins(session: Session, drive: Drive, typed: str) -> list[str]:
    """Store the origins typed for ``drive`` (:func:`parse_origins`; InvalidInput and nothing
    changed on a bad one) and return them. The drive's row is in its pages' state, so its
    cached embed answers with the new list at once."""
    origins = parse_origins(typed)
    drive.embed_origins = "\n".join(origins)
    session.add(drive)
    session.flush()
    return origins


def frame_ancestors(origins_text: str) -> str:
    """The CSP ``frame-ancestors`` source list for a drive's stored origins: ``'none'`` when
    the organizer listed none."""
    origins = origins_text.split()
    return " ".join(origins) if origins else "'none'"
