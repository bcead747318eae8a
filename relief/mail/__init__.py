"""Email: what a mail job says (:func:`compose`) and handing it to the SMTP server (:func:`send`).

A mail job (relief/outbox/due.py) names a gift and a template; the message is built when it is
sent, from what the gift is then, so an erased donor gets nothing and a receipt says what the
books hold. Every message has a plain-text and an HTML part, no images and nothing fetched
from elsewhere (no tracking pixel), ``Auto-Submitted`` (RFC 3834: autoresponders stay quiet),
and a ``Message-ID`` made from the job's key (a resent copy is recognisably the same message).
No ``List-Unsubscribe`` on receipts and notices: they are about the donor's own money, not a
mailing list one can leave; the treasurers' opt-in daily digest carries it (RFC 2369/8058).
"""

from __future__ import annotations

import hashlib
import json
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache

from flask_babel import get_translations, gettext
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session, select

from relief import accounts, donor_access, i18n, members, money, organization, outbox
from relief.config import TEMPLATES
from relief.errors import NotFound
from relief.ledger.months import month_label, when_text
from relief.models import DonorLink, Drive, ErasedDonor, Gift, Job, JobStatus, User, email_key
from relief.outbox import PermanentFailure
from relief.payments import donations, records
from relief.privacy import address_hash
from relief.reports import receipt as receipts
from relief.reports import render, year_end
from relief.treasury import digest

#: Where links point when RELIEF_PUBLIC_URL is not set (the development server).
LOCAL_URL = "http://127.0.0.1:5000"
#: Seconds to wait for the mail server at each step before the job is retried later.
SMTP_TIMEOUT = 30
TEMPLATE_NAMES = ("receipt", "refund", "dispute", "year_end", "donor_link")
#: Emails about a person's account, carrying a one-time link (relief/accounts.py).
ACCOUNT_TEMPLATES = ("invitation", "reset")


class MailError(RuntimeError):
    """The mail server could not take the message now (down, busy, a 4xx answer): retried."""


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES / "mail"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["money"] = money.format
    environment.add_extension("jinja2.ext.i18n")
    # The gift's language (i18n.speaking around each message), as on the pages.
    environment.install_gettext_callables(  # type: ignore[attr-defined]  # added by the extension
        gettext=lambda text: get_translations().ugettext(text),
        ngettext=lambda one, many, n: get_translations().ungettext(one, many, n),
        newstyle=True,
    )
    return environment


def _erased(session: Session, email: str) -> bool:
    if session.exec(select(ErasedDonor.address_hash).limit(1)).first() is None:
        return False
    hashed = address_hash(email_key(email))
    return (
        session.exec(select(ErasedDonor).where(ErasedDonor.address_hash == hashed)).first()
        is not None
    )


def compose(
    session: Session,
    key: str,
    payload: dict,
    config: Mapping,
    now: datetime,
    *,
    attach: bool = True,
    reveal_links: bool = True,
) -> EmailMessage | None:
    """The message a mail job sends, built from the gift as it is now; None when there is
    nobody to send it to (no address, or the donor was erased). ``attach=False`` leaves out
    the receipt's PDF (a preview); ``reveal_links=False`` hides an account email's or a
    donor's one-time link (the admin's preview: an admin must not be able to take over
    another account or open a donor's gifts)."""
    template = payload.get("template")
    if template == "digest":
        return _digest_message(session, key, payload, config, now)
    if template in ACCOUNT_TEMPLATES:
        return _account_message(session, key, payload, config, now, reveal_links)
    if template == "member_link":
        return _member_message(session, key, payload, config, now, reveal_links)
    if template == "honour_card":
        return _honour_card(session, key, payload, config, now)
    if template not in TEMPLATE_NAMES:
        raise PermanentFailure(f"Relief has no email called {template!r}.")
    gift = session.get(Gift, payload.get("gift_id"))
    if gift is None or not gift.donor_email or _erased(session, gift.donor_email):
        return None
    # Written in the language the donor gave in, whatever the sender's (a worker: English).
    with i18n.speaking(gift.locale):
        return _gift_message(
            session, gift, key, template, payload, config, now, attach, reveal_links
        )


def _gift_message(
    session: Session,
    gift: Gift,
    key: str,
    template: str,
    payload: dict,
    config: Mapping,
    now: datetime,
    attach: bool,
    reveal_links: bool,
) -> EmailMessage | None:
    assert gift.donor_email, "compose sends only to a gift with an address"
    drive = session.get(Drive, gift.drive_id) if gift.drive_id else None
    base = (config.get("RELIEF_PUBLIC_URL") or LOCAL_URL).rstrip("/")
    history = donations.gift_history(session, gift)
    org_name = config["RELIEF_ORG_NAME"]
    issuer = organization.issuer(session, config)
    values = {
        "gift": gift,
        "drive_title": drive.title if drive else gettext("the drive"),
        "language": i18n.known(gift.locale),
        "org_name": org_name,
        "gift_url": f"{base}/gifts/{gift.public_id}",
        "receipt_url": f"{base}/gifts/{gift.public_id}/receipt.pdf",
        "find_url": f"{base}/my-gifts",
        "history": history,
        "test_mode": gift.test_mode,
        **payload,
    }
    attachment = None
    if template == "receipt" and attach:
        try:
            receipt = receipts.build(
                session,
                gift.public_id,
                issuer=issuer,
                now=now,
            )
        except NotFound:
            receipt = None  # not in a drive's books yet: the link shows it once it is
        if receipt is not None:
            attachment = (f"receipt-{receipt.number}.pdf", render.receipt_pdf(receipt))
    if template == "year_end":
        statement = year_end.build(
            session, gift.donor_email, int(payload["year"]), issuer=issuer, now=now
        )
        if not statement.lines:
            return None  # every gift of the year left the books meanwhile
        values["statement"] = statement
        if attach:
            attachment = (
                f"giving-statement-{statement.year}.pdf",
                render.year_end_pdf(statement),
            )
    if template == "donor_link":
        link = session.get(DonorLink, payload.get("link_id"))
        if link is None or link.used_at is not None:
            return None
        token = donor_access.token_of(link, str(config["SECRET_KEY"]))
        # The admin's preview never shows it: the link opens the donor's gifts.
        values["link_url"] = (
            f"{base}/my-gifts/link/{token}" if reveal_links else "(the one-time link: hidden here)"
        )
        values["minutes"] = int(donor_access.LINK_VALID.total_seconds() // 60)
        subject = gettext("Your link to your gifts to %(org)s", org=org_name)
    elif template == "year_end":
        subject = gettext(
            "Your %(year)s giving statement from %(org)s", year=payload["year"], org=org_name
        )
    elif template == "receipt":
        amount = money.format(gift.amount_cents, gift.currency)
        subject = gettext(
            "Your receipt: %(amount)s to %(drive)s", amount=amount, drive=values["drive_title"]
        )
    elif template == "refund":
        subject = gettext("Your gift to %(drive)s was refunded", drive=values["drive_title"])
    else:
        subject = gettext("A dispute about your gift to %(drive)s", drive=values["drive_title"])
    if gift.test_mode and template != "year_end":
        subject = gettext("[Test mode — no money moved] %(subject)s", subject=subject)
    return _message(
        key=key,
        sender=config["MAIL_FROM"],
        to=Address(display_name=gift.donor_name or "", addr_spec=gift.donor_email),
        subject=subject,
        text=_environment().get_template(f"{template}.txt").render(**values),
        html=_environment().get_template(f"{template}.html").render(**values),
        now=now,
        attachment=attachment,
    )


def _account_message(
    session: Session, key: str, payload: dict, config: Mapping, now: datetime, reveal: bool
) -> EmailMessage | None:
    found = accounts.link_mail(session, config["SECRET_KEY"], int(payload.get("link_id") or 0))
    if found is None:
        return None  # used, replaced or expired meanwhile: nothing worth sending
    base = (config.get("RELIEF_PUBLIC_URL") or LOCAL_URL).rstrip("/")
    path = "welcome" if found.purpose.value == "invitation" else "reset"
    link = f"{base}/account/{path}/{found.token}" if reveal else "(the one-time link: hidden here)"
    values = {
        "mail": found,
        "link": link,
        "org_name": config["RELIEF_ORG_NAME"],
        # On the coalition's clocks, naming the zone (December 9, 2026, 02:42 CST).
        "expires": when_text(found.expires_at),
    }
    if found.purpose.value == "invitation":
        subject = f"You are invited to {config['RELIEF_ORG_NAME']} on Relief"
    else:
        subject = "Reset your Relief password"
    template = found.purpose.value
    return _message(
        key=key,
        sender=config["MAIL_FROM"],
        to=Address(addr_spec=found.email),
        subject=subject,
        text=_environment().get_template(f"{template}.txt").render(**values),
        html=_environment().get_template(f"{template}.html").render(**values),
        now=now,
    )


def _digest_message(
    session: Session, key: str, payload: dict, config: Mapping, now: datetime
) -> EmailMessage | None:
    user = session.get(User, payload.get("user_id"))
    if user is None or user.removed_at is not None or not user.digest:
        return None  # removed, or unsubscribed since it was queued
    found = digest.build(session, user, now)
    if not found.anything:
        return None  # nothing needs attention: no email
    base = (config.get("RELIEF_PUBLIC_URL") or LOCAL_URL).rstrip("/")
    unsubscribe = (
        f"{base}/account/digest/stop/{digest.unsubscribe_token(config['SECRET_KEY'], user)}"
    )
    values = {
        "digest": found,
        "base": base,
        "unsubscribe": unsubscribe,
        "org_name": config["RELIEF_ORG_NAME"],
        "month_label": month_label,
    }
    count = len(found.chapters)
    subject = f"Needs attention today: {count} chapter{'s' if count != 1 else ''}"
    if not found.chapters:
        subject = "Needs attention today: the coalition's queue"
    message = _message(
        key=key,
        sender=config["MAIL_FROM"],
        to=Address(addr_spec=user.email),
        subject=f"{subject} ({found.day.isoformat()})",
        text=_environment().get_template("digest.txt").render(**values),
        html=_environment().get_template("digest.html").render(**values),
        now=now,
    )
    # RFC 2369 and 8058: mail clients show "Unsubscribe" and post to it in one click.
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    return message


def _member_message(
    session: Session, key: str, payload: dict, config: Mapping, now: datetime, reveal: bool
) -> EmailMessage | None:
    """A member's one-time link to write or edit their page (relief/members.py)."""
    found = members.link_mail(
        session, str(config["SECRET_KEY"]), int(payload.get("link_id") or 0), now
    )
    if found is None:
        return None  # used or expired meanwhile: nothing worth sending
    base = (config.get("RELIEF_PUBLIC_URL") or LOCAL_URL).rstrip("/")
    link = f"{base}/members/link/{found.token}" if reveal else "(the one-time link: hidden here)"
    language = i18n.known(payload.get("language"))
    values = {
        "mail": found,
        "link_url": link,
        "org_name": config["RELIEF_ORG_NAME"],
        "language": language,
    }
    with i18n.speaking(language):
        return _message(
            key=key,
            sender=config["MAIL_FROM"],
            to=Address(display_name=found.display_name, addr_spec=found.email),
            subject=gettext("Your page on %(drive)s", drive=found.drive_title),
            text=_environment().get_template("member_link.txt").render(**values),
            html=_environment().get_template("member_link.html").render(**values),
            now=now,
        )


def _honour_card(
    session: Session, key: str, payload: dict, config: Mapping, now: datetime
) -> EmailMessage | None:
    """The card a donor asked us to send to someone about their dedicated gift. It names the
    donor as they chose to be shown and the honoree, never the amount; nothing once the donor
    was erased (the card's fields go with them) or the gift's money left."""
    gift = session.get(Gift, payload.get("gift_id"))
    if gift is None or not gift.card_email or not gift.honoree_name:
        return None
    if gift.status not in records.MONEY_RECEIVED:
        return None
    if gift.donor_email and _erased(session, gift.donor_email):
        return None
    drive = session.get(Drive, gift.drive_id) if gift.drive_id else None
    # Written in the language the donor gave in: they chose it, and they name the recipient.
    with i18n.speaking(gift.locale):
        values = {
            "donor": gift.donor_name if gift.show_name and gift.donor_name else gettext("Someone"),
            "memory": gift.dedication_kind == "memory",
            "honoree": gift.honoree_name,
            "recipient": gift.card_name or "",
            "message": gift.card_message or "",
            "drive_title": drive.title if drive else gettext("a drive to abolish medical debt"),
            "partner": drive.partner_name if drive else gettext("a relief nonprofit"),
            "org_name": config["RELIEF_ORG_NAME"],
            "test_mode": gift.test_mode,
            "language": i18n.known(gift.locale),
        }
        if values["memory"]:
            subject = gettext("A gift in memory of %(honoree)s", honoree=gift.honoree_name)
        else:
            subject = gettext("A gift in honour of %(honoree)s", honoree=gift.honoree_name)
        if gift.test_mode:
            subject = gettext("[Test mode — no money moved] %(subject)s", subject=subject)
        return _message(
            key=key,
            sender=config["MAIL_FROM"],
            to=Address(display_name=gift.card_name or "", addr_spec=gift.card_email),
            subject=subject,
            text=_environment().get_template("honour_card.txt").render(**values),
            html=_environment().get_template("honour_card.html").render(**values),
            now=now,
        )


def _message(
    *,
    key: str,
    sender: str,
    to: Address,
    subject: str,
    text: str,
    html: str,
    now: datetime,
    attachment: tuple[str, bytes] | None = None,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        filename, data = attachment
        message.add_attachment(data, maintype="application", subtype="pdf", filename=filename)
    return message


def text_of(message: EmailMessage) -> str:
    """The plain-text part (what the admin and the development log see of a kept email)."""
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def send(message: EmailMessage, smtp: Mapping) -> None:
    """Hand ``message`` to the SMTP server. PermanentFailure when the server refuses the
    address or the message for good (5xx); MailError when it may take it later."""
    address = parseaddr(str(message["To"]))[1]
    context = ssl.create_default_context()
    try:
        client: smtplib.SMTP
        if smtp["scheme"] == "smtps":
            client = smtplib.SMTP_SSL(
                smtp["host"], smtp["port"], timeout=SMTP_TIMEOUT, context=context
            )
        else:
            client = smtplib.SMTP(smtp["host"], smtp["port"], timeout=SMTP_TIMEOUT)
        with client:
            if smtp["scheme"] == "smtp+starttls":
                client.starttls(context=context)
            if smtp.get("username"):
                client.login(smtp["username"], smtp.get("password") or "")
            client.send_message(message)
    except smtplib.SMTPRecipientsRefused as refused:
        code, reply = next(iter(refused.recipients.values()))
        _refused(code, reply, address, "the address")
    except smtplib.SMTPAuthenticationError as error:
        raise MailError(
            f"The mail server refused Relief's sign-in ({_reply(error.smtp_error)}): check "
            "the user and password in RELIEF_SMTP_URL."
        ) from error
    except smtplib.SMTPSenderRefused as error:
        raise MailError(
            f"The mail server refused the sender {error.sender} ({error.smtp_code} "
            f"{_reply(error.smtp_error)}): check RELIEF_MAIL_FROM."
        ) from error
    except smtplib.SMTPResponseException as error:
        _refused(error.smtp_code, error.smtp_error, address, "the message")
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(
            f"The mail server at {smtp['host']}:{smtp['port']} could not be reached "
            f"({type(error).__name__}: {str(error)[:200]}); Relief tries again later."
        ) from error


def _reply(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())[:300]


def _refused(code: int, reply: bytes | str, address: str, what: str) -> None:
    # The server's words may repeat the donor's address: the admin's list does not need it.
    said = _reply(reply).replace(address, "<the donor's address>")
    if 500 <= code < 600:
        raise PermanentFailure(
            f"The mail server refused {what} for good ({code} {said}); not retried."
        )
    raise MailError(f"The mail server deferred {what} ({code} {said}); Relief tries again later.")


@dataclass(frozen=True)
class Preview:
    """What a kept email says, for the admin: no attachment is built."""

    to: str
    subject: str
    text: str


@dataclass(frozen=True)
class OutboxView:
    """The admin's outbox: how many jobs in each status, and the jobs, what needs a person
    first; kept emails with what they say."""

    counts: dict[JobStatus, int]
    jobs: dict[JobStatus, list[Job]]
    previews: dict[int, Preview]


#: Jobs shown per status (done jobs: the latest few).
SHOWN = {JobStatus.DONE: 50}


def outbox_view(session: Session, config: Mapping, now: datetime) -> OutboxView:
    jobs = {
        status: outbox.listing(session, status, limit=SHOWN.get(status, 200))
        for status in outbox.LISTING_ORDER
    }
    previews: dict[int, Preview] = {}
    for job in jobs[JobStatus.KEPT]:
        message = compose(
            session, job.key, json.loads(job.payload), config, now, attach=False, reveal_links=False
        )
        if message is not None and job.id is not None:
            previews[job.id] = Preview(
                str(message["To"]), str(message["Subject"]), text_of(message)
            )
    return OutboxView(outbox.counts(session), jobs, previews)
