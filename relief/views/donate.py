"""Giving: the donate form (on every drive and chapter page), the checkout redirect, the
built-in test checkout, and the donor's own gift page. Thin: parse, call a service, render."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext, ngettext

from relief import boundary, db, drive_pages, i18n, money, organization, pagecache, share
from relief.forms import (
    OTHER,
    PRESET_CENTS,
    DonateForm,
    DonatePage,
    chapter_choices,
    donate_token_error,
    required,
)
from relief.i18n import N_
from relief.models import utcnow
from relief.payments import donations, testmode
from relief.payments.gateway import CheckoutUrls, GatewayError
from relief.web import (
    budget_wait,
    csrf,
    from_another_site,
    gateway,
    limiter,
    local_path,
    spend_budget,
)

bp = Blueprint("donate", __name__)

#: Card testers try many small charges from one client; a donor needs a handful of tries.
#: The donate form counts checkouts it starts, never a form refused for a typo.
CHECKOUT_LIMIT = "10 per minute; 40 per hour"
CHECKOUT_SCOPE = "checkout"
FROM_ANOTHER_SITE = N_(
    "This form was sent from another site, so nothing was recorded. To give, check your gift "
    "below and send it from this page."
)


def _rate() -> donations.FeeRate:
    config = current_app.config
    return donations.FeeRate(
        config["FEE_PERCENT_BPS"], config["FEE_FIXED_CENTS"], config["FEE_MONTHLY_BPS"]
    )


def _new_form(view, formdata=None, data=None) -> DonateForm:
    form = DonateForm(
        formdata=formdata,
        data=data,
        page=DonatePage(view.drive.slug, view.chapter.slug if view.chapter else None),
        min_cents=current_app.config["DONATION_MIN_CENTS"],
        max_cents=current_app.config["DONATION_MAX_CENTS"],
        currency=view.drive.currency,
    )
    if view.chapter is not None:
        del form.chapter  # a chapter page credits its own chapter
    else:
        form.chapter.choices = chapter_choices(view.totals.chapters)
    return form


@bp.app_template_global("donate_form")
def donate_form(view, values: dict | None = None) -> DonateForm:
    """The form for a page: empty, or filled again with ``values`` (the page's view read them
    with ``donations.form_values``) when the donor comes back from checkout. ``ref`` and
    ``utm_*`` of the link the donor came through ride along in hidden fields."""
    if pagecache.building_shared_page():
        # A page shared by many visitors: slots where each visitor's own values go (the
        # form's token is the drive's, the same for all of them).
        data = {name: pagecache.slot(name) for name in donations.ATTRIBUTION_KEYS}
        return _new_form(view, data=data)
    data = {name: request.args.get(name, "")[:200] for name in donations.ATTRIBUTION_KEYS}
    if values:
        cents = values["amount_cents"]
        data.update(
            amount_choice=str(cents) if cents in PRESET_CENTS else OTHER,
            custom_amount="" if cents in PRESET_CENTS else money.to_decimal_text(cents),
            frequency="monthly" if values["monthly"] else "once",
            cover_fee=values["cover_fee"],
            chapter=values["chapter"],
            donor_name=values["donor_name"],
            show_name="show" if values["show_name"] else "anonymous",
            message=values["message"],
            email=values["email"],
            **{key: values[key] for key in donations.DEDICATION_KEYS},
        )
        data["dedication_kind"] = data["dedication_kind"] or "honour"
    return _new_form(view, data=data)


@bp.app_template_global("fee_example")
def fee_example(amount_cents: int, monthly: bool = False) -> int:
    """The charge for ``amount_cents`` with the fee covered (shown beside the checkbox)."""
    return donations.charge_for(amount_cents, True, _rate(), monthly=monthly)


@bp.app_template_global("fee_rate_text")
def fee_rate_text() -> str:
    """The card fee a donor covers, as people read it: "2.9% + $0.30"."""
    rate = _rate()
    return f"{money.bps_text(rate.percent_bps)} + {money.format(rate.fixed_cents)}"


def _page_url(view, member=None, _external: bool = True, **params) -> str:
    if member is not None:
        name = member.member.page.name
        return url_for(
            "members.page", slug=view.drive.slug, name=name, _external=_external, **params
        )
    if view.chapter is not None:
        return url_for(
            "public.chapter_page",
            slug=view.drive.slug,
            chapter=view.chapter.slug,
            _external=_external,
            **params,
        )
    return url_for("public.drive_page", slug=view.drive.slug, _external=_external, **params)


def _forged(page: DonatePage) -> str | None:
    """Why this donate POST is refused as forged (sent from another site, or without its
    page's token), or None. Asked before the request is counted or anything is written."""
    if from_another_site():
        return FROM_ANOTHER_SITE
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return None
    secret = str(current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key)
    token = request.form.get("csrf_token", "")
    return donate_token_error(secret, page, token, utcnow().date())


@bp.post("/drives/<slug>/donate", defaults={"chapter": None})
@bp.post("/drives/<slug>/<chapter>/donate")
@csrf.exempt  # no session token: the form's own, bound to its page, and the origin checked
def donate(slug, chapter):
    forged = _forged(DonatePage(slug, chapter))
    if forged is None:
        return _donate(slug, chapter)
    # Shown again with what was typed and a good token, counted against no limit.
    view = drive_pages.drive_view(db.session(), slug, chapter)
    return _refused_as_forged(view, forged)


@bp.post("/drives/<slug>/p/<name>/donate")
@csrf.exempt  # as the donate form above: its page's own token, and the origin checked
def member_donate(slug, name):
    """A gift on a member's page: it credits the member and their chapter."""
    found = drive_pages.member_view(db.session(), slug, name)  # 404 once hidden
    view = found.view
    assert view.chapter is not None, "a member's page is their chapter's side of the drive"
    forged = _forged(DonatePage(slug, view.chapter.slug))
    if forged is None:
        # The rate limiter counts on a connection of its own: hold no write lock meanwhile.
        boundary.checkpoint()
        return _donate(slug, view.chapter.slug, found)
    return _refused_as_forged(view, forged, found)


def _page(view, form, member=None, status: int = 400):
    if member is not None:
        return render_template("drives/member.html", found=member, view=view, form=form), status
    return render_template("drives/page.html", view=view, form=form), status


@bp.app_template_global("member_page_urls")
def member_page_urls(found) -> dict:
    """The member page's own address and where its give box posts."""
    drive_slug, name = found.view.drive.slug, found.member.page.name
    return {
        "page_url": url_for("members.page", slug=drive_slug, name=name, _external=True),
        "donate_action": url_for(
            "donate.member_donate", slug=drive_slug, name=name, _anchor="donate"
        ),
    }


def _refused_as_forged(view, forged: str, member=None):
    form = _new_form(view, formdata=request.form)
    form.validate()
    if forged == FROM_ANOTHER_SITE:
        form.form_errors.append(gettext(forged))
    return _page(view, form, member)


def _too_many(view, form, seconds: int, member=None):
    """The page again with everything the donor typed, the sentence, and ``Retry-After``."""
    form.form_errors.append(
        ngettext(
            "Many checkouts were started from your connection in a short time, so this one "
            "was not. Nothing was recorded or charged; what you typed is kept below. Try again "
            "in %(num)d second.",
            "Many checkouts were started from your connection in a short time, so this one "
            "was not. Nothing was recorded or charged; what you typed is kept below. Try again "
            "in %(num)d seconds.",
            seconds,
        )
    )
    page, status = _page(view, form, member, 429)
    return page, status, {"Retry-After": str(seconds)}


def _donate(slug, chapter, member=None):
    session = db.session()
    view = member.view if member is not None else drive_pages.drive_view(session, slug, chapter)
    form = _new_form(view, formdata=request.form)
    if not form.validate_on_submit():
        return _page(view, form, member)
    wait = budget_wait(CHECKOUT_LIMIT, CHECKOUT_SCOPE)
    if wait is not None:
        return _too_many(view, form, wait, member)
    chapter_slug = view.chapter.slug if view.chapter else (form.chapter.data or None)
    gift = donations.create_pending(
        session,
        donations.DonationRequest(
            drive_slug=slug,
            chapter_slug=chapter_slug,
            amount_cents=required(form.amount_cents),  # set by the form's validation
            cover_fee=form.cover_fee.data,
            monthly=form.frequency.data == "monthly",
            donor_name=form.donor_name.data or "",
            show_name=form.show_name.data == "show",
            message=form.message.data,
            email=form.email.data or "",
            attribution=form.attribution(),
            member_name=member.member.page.name if member is not None else None,
            dedication=form.dedication(),
            locale=i18n.current(),
        ),
        rate=_rate(),
        min_cents=current_app.config["DONATION_MIN_CENTS"],
        max_cents=current_app.config["DONATION_MAX_CENTS"],
        test_mode=gateway().test_mode,
    )
    details = donations.checkout_details(session, gift, current_app.config["RELIEF_ORG_NAME"])
    # The pending gift is kept now, so no lock is held while the processor answers.
    boundary.checkpoint()
    # A checkout is started: that is what a card tester repeats (counted with no write lock
    # held, which SQLite's counters need).
    wait = spend_budget(CHECKOUT_LIMIT, CHECKOUT_SCOPE)
    if wait is not None:
        return _too_many(view, form, wait, member)  # the pending gift stays pending, never paid
    urls = CheckoutUrls(
        success=url_for("donate.gift_page", public_id=gift.public_id, _external=True),
        cancel=_page_url(view, member, resume=gift.public_id, _anchor="donate"),
        test_checkout=url_for(
            "donate.test_checkout",
            public_id=gift.public_id,
            back=_page_url(view, member, resume=gift.public_id, _anchor="donate", _external=False),
        ),
    )
    try:
        checkout_url = donations.start_checkout(gateway(), gift, details, urls)
    except GatewayError:
        current_app.logger.exception("checkout for gift %s failed", gift.public_id)
        form.form_errors.append(
            gettext(
                "We could not reach our payment processor. Nothing was charged; please try again."
            )
        )
        return _page(view, form, member, 503)
    return redirect(checkout_url, code=303)  # the boundary saves the gift's checkout id


@bp.get("/gifts/<public_id>")
def gift_page(public_id):
    receipt = donations.receipt(db.session(), public_id)
    return render_template(
        "donate/gift.html",
        receipt=receipt,
        contact_email=organization.contact_email(db.session(), current_app.config),
        # Shared: the debt the gift relieves; the amount only once the donor ticks the box.
        shared_text=share.impact_text(receipt.relief_cents, receipt.currency),
        shared_text_with_amount=share.impact_text(
            receipt.relief_cents, receipt.currency, receipt.amount_cents
        ),
        with_amount=request.args.get("amount") == "1",
    )


@bp.post("/gifts/<public_id>/manage")
@limiter.limit(CHECKOUT_LIMIT)
def manage_monthly(public_id):
    """To Stripe's customer portal; the unguessable gift link is the donor's key to it."""
    return_url = url_for("donate.gift_page", public_id=public_id, _external=True)
    try:
        url = donations.manage_url(
            db.session(), gateway(), public_id, return_url, checkpoint=boundary.checkpoint
        )
    except GatewayError:
        current_app.logger.exception("customer portal for gift %s failed", public_id)
        abort(503)
    return redirect(url, code=303)


def _test_mode_only() -> None:
    # Impossible when a Stripe key is set: the test checkout exists only in test mode.
    if not gateway().test_mode:
        abort(404)


@bp.get("/test-checkout/<public_id>")
def test_checkout(public_id):
    _test_mode_only()
    found = testmode.checkout(db.session(), public_id)
    cancel_url = local_path(request.args.get("back")) or url_for(
        "public.drive_page", slug=found.drive.slug, resume=public_id, _anchor="donate"
    )
    return render_template("donate/test_checkout.html", checkout=found, cancel_url=cancel_url)


@bp.post("/test-checkout/<public_id>/pay")
@limiter.limit(CHECKOUT_LIMIT)
def test_checkout_pay(public_id):
    _test_mode_only()
    testmode.pay(
        db.session(),
        public_id,
        success_url=url_for("donate.gift_page", public_id=public_id, _external=True),
    )
    return redirect(url_for("donate.gift_page", public_id=public_id), code=303)
