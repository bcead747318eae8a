"""Public pages: the list of active drives, a drive's page, one chapter's side of it, its
public ledger, and the verifier anyone can download."""

from importlib.resources import files

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import force_locale
from sqlmodel import Session

from relief import (
    db,
    drive_images,
    drive_pages,
    drives,
    i18n,
    pagecache,
    public_ledger,
    qr,
    share,
    web,
)
from relief.models import present
from relief.payments import donations

bp = Blueprint("public", __name__)


@bp.get("/")
def index():
    html = render_template("drives/index.html", cards=drive_pages.active_drive_cards(db.session()))
    return pagecache.built_page(html)


#: How long the switcher remembers a visitor's language: a year.
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


@bp.get("/language/<code>")
def language(code):
    """The switcher (English | Español): remember the visitor's choice in a cookie, set
    only here, and go back to the page they were on."""
    response = redirect(web.local_path(request.args.get("next")) or url_for("public.index"), 303)
    if code in i18n.LANGUAGES:
        response.set_cookie(
            i18n.COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_SECONDS,
            secure=request.is_secure,
            httponly=True,
            samesite="Lax",
        )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/drives/<slug>")
def drive_page(slug):
    return _drive_page(slug)


@bp.get("/drives/<slug>/ledger")
def ledger_page(slug):
    after = web.whole_number_arg("after")
    page = public_ledger.page(db.session(), slug, after)
    return render_template("drives/ledger.html", page=page, after=after)


@bp.get("/drives/<slug>/ledger.csv")
def ledger_csv(slug):
    drive = drives.get_drive(db.session(), slug)
    drive_id, engine = present(drive.id), db.engine()

    def chunks():
        # A session of its own, open while the body streams (the request's closes first).
        with Session(engine, expire_on_commit=False) as session:
            yield from public_ledger.csv_chunks(session, drive_id)

    response = Response(chunks(), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="{drive.slug}-ledger.csv"'
    return response


@bp.get("/verify.py")
def verifier():
    """relief/verify.py itself: the file ``python -m relief.verify`` runs."""
    source = files("relief").joinpath("verify.py").read_bytes()
    return Response(source, mimetype="text/x-python")


#: An image's URL names its content, so it never changes: browsers and CDNs keep it for a year.
IMMUTABLE = "public, max-age=31536000, immutable"


@bp.get("/drives/<slug>/image/<name>")
def drive_image(slug, name):
    image = drive_images.stored(db.session(), slug, name)
    response = Response(image.data, mimetype=image.content_type)
    response.headers["Cache-Control"] = IMMUTABLE
    return response


@bp.get("/drives/<slug>/<chapter>")
def chapter_page(slug, chapter):
    return _drive_page(slug, chapter)


def _drive_page(slug: str, chapter: str | None = None) -> Response:
    def build():
        session = db.session()
        view = drive_pages.drive_view(session, slug, chapter)
        # A donor back from checkout (?resume=<gift>) finds the donate form as they left it.
        resumed = donations.form_values(session, request.args.get("resume"))
        return render_template("drives/page.html", view=view, resumed=resumed)

    # The host is part of the key: the page's share link and QR code are absolute URLs.
    return pagecache.page(("page", slug, chapter, request.scheme, request.host), slug, build)


@bp.get("/drives/<slug>/card.png")
def drive_card(slug):
    return _card(slug)


@bp.get("/drives/<slug>/<chapter>/card.png")
def chapter_card(slug, chapter):
    return _card(slug, chapter)


def _card(slug: str, chapter: str | None = None) -> Response:
    """The share card (og:image): rebuilt only when the drive's state moves on."""

    def build() -> bytes:
        view = drive_pages.drive_view(db.session(), slug, chapter)
        # One picture per drive state, whoever asks first: drawn in English (chats fetch it
        # with no language of their reader).
        with force_locale("en"):
            text = share.card_text(view)
        return share.card_png(text, current_app.config["RELIEF_ORG_NAME"])

    return pagecache.png(("card", slug, chapter), slug, build)


@bp.get("/drives/<slug>/embed")
def drive_embed(slug):
    return _embed(slug)


@bp.get("/drives/<slug>/<chapter>/embed")
def chapter_embed(slug, chapter):
    return _embed(slug, chapter)


def _embed(slug: str, chapter: str | None = None) -> Response:
    """The drive's progress and a give button, for a site to show in a frame: only the sites
    its organizers listed may (CSP frame-ancestors); the button opens the drive's page."""

    def build():
        view = drive_pages.drive_view(db.session(), slug, chapter)
        return render_template("drives/embed.html", view=view)

    response = pagecache.page(("embed", slug, chapter, request.scheme, request.host), slug, build)
    drive = drives.get_drive(db.session(), slug)
    response.headers["Content-Security-Policy"] = web.framed_by(
        share.frame_ancestors(drive.embed_origins)
    )
    return response


@bp.app_template_global()
def public_url(endpoint: str, **values) -> str:
    """An absolute URL for links read off this site (og:url, og:image, shared links): on
    RELIEF_PUBLIC_URL when it is set, else on the host the request came to."""
    base = current_app.config.get("RELIEF_PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, **values, _external=True)


bp.add_app_template_global(share.card_text, "share_card")


@bp.get("/drives/<slug>/qr.svg")
def drive_qr(slug):
    drive = drives.get_drive(db.session(), slug)
    return _qr(url_for("public.drive_page", slug=drive.slug, _external=True))


@bp.get("/drives/<slug>/<chapter>/qr.svg")
def chapter_qr(slug, chapter):
    view_chapter = drives.chapter_in_drive(
        db.session(), drives.get_drive(db.session(), slug), chapter
    )
    return _qr(url_for("public.chapter_page", slug=slug, chapter=view_chapter.slug, _external=True))


def _qr(url: str) -> Response:
    response = Response(qr.svg(url, scale=6), mimetype="image/svg+xml")
    response.cache_control.max_age = 3600
    return response
