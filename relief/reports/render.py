"""Render report snapshots to PDF with WeasyPrint.

Templates live in ``templates/reports/`` and only format what the snapshot holds. WeasyPrint
may read nothing but the packaged files in ``relief/static/reports/`` and the ``data:``
images this module embeds: :class:`PackagedFilesOnly` refuses every other URL, and a refused
or missing resource stops the rendering rather than leaving a hole in the report.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from flask_babel import get_translations, gettext
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

from relief import i18n, money
from relief.config import TEMPLATES as ALL_TEMPLATES
from relief.errors import InvalidInput
from relief.ledger import months
from relief.reports import charts
from relief.reports.monthly import MonthlySnapshot
from relief.reports.press import PressSnapshot
from relief.reports.receipt import NO_GOODS_OR_SERVICES, Receipt
from relief.reports.year_end import YearEndStatement

STATIC = (Path(__file__).resolve().parent.parent / "static" / "reports").resolve()
TEMPLATES = ALL_TEMPLATES / "reports"
#: CSS page sizes by the name the route and CLI accept.
PAPER_SIZES = {"letter": "letter", "a4": "A4"}
#: Tagged, accessible PDF (WeasyPrint ≥ 62 supports the PDF/UA-1 variant).
PDF_VARIANT = "pdf/ua-1"
_DATA_TYPES = ("data:image/svg+xml", "data:image/png")


class PackagedFilesOnly(URLFetcher):
    """Fetch packaged report assets and embedded images; refuse everything else."""

    def __init__(self):
        super().__init__(allowed_protocols=("file", "data"), fail_on_errors=True)

    def fetch(self, url, headers=None):
        if url.startswith(_DATA_TYPES):
            return super().fetch(url, headers)
        parts = urlsplit(url)
        if parts.scheme == "file" and not parts.netloc:
            path = Path(unquote(parts.path)).resolve()
            if path.is_relative_to(STATIC) and path.is_file():
                return URLFetcherResponse(url, path.read_bytes(), _type_of(path))
        raise ValueError(f"reports may only use packaged files, not {url[:100]}")


def _type_of(path: Path) -> dict:
    types = {".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png"}
    return {"Content-Type": types.get(path.suffix, "application/octet-stream")}


def _data_uri(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _css_string(text: str) -> Markup:
    """``text`` as a quoted CSS string (for page margin boxes); escapes quotes and newlines."""
    escaped = "".join(
        ch if ch.isprintable() and ch not in '"\\<>' else f"\\{ord(ch):x} " for ch in str(text)
    )
    return Markup(f'"{escaped}"')  # noqa: S704 — quotes, \ and <> are escaped above


def _page_numbers() -> Markup:
    """ "Page 1 of 2" in the report's language, as CSS content for a page's margin box."""
    pieces = re.split(r"(%\((?:page|pages)\)s)", gettext("Page %(page)s of %(pages)s"))
    counters = {"%(page)s": "counter(page)", "%(pages)s": "counter(pages)"}
    return Markup(" ".join(counters.get(piece) or _css_string(piece) for piece in pieces if piece))  # noqa: S704 — counters and escaped strings only


def _translated(text: str) -> str:
    """``text`` from the catalog when it is one of ours (a change's label, the default tax
    statement), else as written (an operator's own statement): never %-formatted."""
    return gettext(text)


@cache
def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = money.format
    env.filters["money_whole"] = money.format_whole
    # Dates in the coalition's zone (RELIEF_TIMEZONE), as on the pages.
    env.filters.update(months.DATE_FILTERS)
    env.globals["coalition_zone"] = months.zone_name
    env.filters["css_string"] = _css_string
    env.globals["page_numbers"] = _page_numbers
    env.globals["translated"] = _translated
    env.add_extension("jinja2.ext.i18n")
    # The donor's language (i18n.speaking around each rendering), as on the pages.
    env.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        gettext=lambda text: get_translations().ugettext(text),
        ngettext=lambda one, many, n: get_translations().ungettext(one, many, n),
        newstyle=True,
    )
    return env


def paper_size(paper: str) -> str:
    """The CSS page size for "letter" or "a4"; a clear error for anything else."""
    try:
        return PAPER_SIZES[(paper or "letter").lower()]
    except KeyError:
        raise InvalidInput("The paper size must be letter or a4.") from None


#: A header cell's HTML scope as the PDF's structure attribute (ISO 32000 table attributes).
_SCOPES = {"col": "/Column", "row": "/Row", "colgroup": "/Column", "rowgroup": "/Row"}


def _keep_header_scope(document, pdf) -> None:
    """Write each ``<th scope>`` into its tagged TH's attributes (``/Scope``): WeasyPrint 70
    uses the scope to link cells to headers but leaves it out of the TH, and PDF/UA asks for
    it. The tagging step leaves each table cell's structure element on its box."""
    del pdf  # the structure elements are reached through the boxes
    for page in document.pages:
        for box in page._page_box.descendants():  # noqa: SLF001 — WeasyPrint's own tree
            mark = getattr(box, "mark", None)
            if box.element_tag != "th" or mark is None or "A" not in mark:
                continue
            scope = _SCOPES.get((box.element.get("scope") or "").lower())
            if scope:
                mark["A"]["Scope"] = scope


#: PDFs kept per process, by the digest of the HTML they were rendered from: a few dozen
#: of ~50 KB. Rendering the same HTML again gives the same document, so a report asked for
#: again while its figures and its "as of" minute are unchanged costs its snapshot and
#: template (~15 ms) instead of WeasyPrint's layout and PDF writing (~0.3–0.5 s).
_RENDERED: OrderedDict[bytes, bytes] = OrderedDict()
RENDERED_KEPT = 32
#: Threads rendering side by side (change 29) must not drop a PDF another is moving to the end.
_RENDERED_LOCK = threading.Lock()


#: Each template's stylesheets, in order; every template has report.css.
STYLESHEETS = {"monthly.html": ("report.css", "monthly.css")}


@cache
def _stylesheets(template: str) -> tuple[CSS, ...]:
    """The template's stylesheets, parsed once per process: WeasyPrint parsed them again for
    every report (~15 ms of its ~0.2 s). They apply as user stylesheets, under the template's
    own ``<style>`` (the page size and footer), as they did when linked before it."""
    return tuple(
        CSS(filename=str(STATIC / name), url_fetcher=PackagedFilesOnly())
        for name in STYLESHEETS.get(template, ("report.css",))
    )


_fonts = threading.local()


def _font_config() -> FontConfiguration:
    """This thread's font configuration, kept between documents. WeasyPrint makes a new one
    for every document unless given one: fontconfig's configuration loaded again, every font
    opened and shaped again in a new Pango font map, and ~0.2 MB of it never given back
    (22 MB per 100 documents, ~1 MB more each until a full garbage collection). Kept, a
    press report costs 0.81–0.86 × the CPU and a monthly one 0.80–0.90 × (change 29 in
    docs/performance.md). A Pango font map is not safe to share between threads, so each
    thread keeps its own; each PDF still embeds only its own glyphs (WeasyPrint subsets
    fonts per document)."""
    config = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


def _pdf(template: str, paper: str, language: str = i18n.DEFAULT, **context) -> bytes:
    # A donor's receipt is in the language they gave in; the press and treasurer's reports
    # are English (written for English-language press and the books), whoever asks.
    with i18n.speaking(language):
        html = _environment().get_template(template).render(page_size=paper_size(paper), **context)
    key = hashlib.blake2b(html.encode(), digest_size=16).digest()
    with _RENDERED_LOCK:
        kept = _RENDERED.get(key)
        if kept is not None:
            _RENDERED.move_to_end(key)
            return kept
    document = HTML(string=html, base_url=STATIC.as_uri() + "/", url_fetcher=PackagedFilesOnly())
    rendered = document.write_pdf(
        stylesheets=_stylesheets(template),
        font_config=_font_config(),
        pdf_variant=PDF_VARIANT,
        finisher=_keep_header_scope,
    )
    with _RENDERED_LOCK:
        _RENDERED[key] = rendered
        while len(_RENDERED) > RENDERED_KEPT:
            _RENDERED.popitem(last=False)
    return rendered


def pdf(snapshot: PressSnapshot, paper: str = "letter") -> bytes:
    """The press impact report: two pages, whatever the number of gifts."""
    return _pdf(
        "press.html",
        paper,
        s=snapshot,
        first_day=charts.is_first_day(snapshot),
        log_scale=charts.uses_log_scale(snapshot),
        raised_chart=_data_uri(charts.raised_over_time(snapshot)),
        qr=_data_uri(charts.qr_code(snapshot.drive_url)) if snapshot.drive_url else None,
    )


def receipt_pdf(receipt: Receipt, paper: str = "letter") -> bytes:
    """A donor's one-page receipt."""
    return _pdf("receipt.html", paper, receipt.language, r=receipt, no_goods=NO_GOODS_OR_SERVICES)


def year_end_pdf(statement: YearEndStatement, paper: str = "letter") -> bytes:
    """A donor's year-end statement: every gift of the year and its total."""
    return _pdf(
        "year_end.html",
        paper,
        statement.language,
        statement=statement,
        no_goods=NO_GOODS_OR_SERVICES,
    )


def monthly_pdf(snapshot: MonthlySnapshot, paper: str = "letter") -> bytes:
    """A chapter's monthly treasurer's report (no charts: figures and lists)."""
    return _pdf("monthly.html", paper, s=snapshot)
