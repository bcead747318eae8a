"""Settings read from the environment once, at start-up, and checked with sentences."""

from __future__ import annotations

import os
import secrets
from email.headerregistry import Address
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from relief.i18n import N_

#: The Jinja templates (beside the package, at the project's top): the web's and the PDFs'.
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class ConfigError(RuntimeError):
    """A setting is missing or wrong; the message says what to set."""


def _int_setting(env: dict, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None


def _switch(env: dict, name: str) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if raw in ("", "0", "no", "off", "false"):
        return False
    if raw in ("1", "yes", "on", "true"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {raw!r}.")


def timezone_setting(raw: str | None) -> str:
    """RELIEF_TIMEZONE, checked: an IANA zone name (default UTC)."""
    name = (raw or "").strip() or "UTC"
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(
            f"RELIEF_TIMEZONE must be an IANA time zone name such as America/Chicago, "
            f"Europe/Berlin or UTC, got {name[:60]!r}."
        ) from None
    return name


def database_url_for(raw: str | None, instance_path: str) -> str:
    """The SQLAlchemy URL: a SQLite file in the instance folder unless DATABASE_URL says otherwise.

    A plain ``postgresql://`` URL selects psycopg 3, so operators can paste what their host
    gives them.
    """
    if not raw:
        return f"sqlite:///{Path(instance_path) / 'relief.db'}"
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw[len(prefix) :]
    return raw


#: The receipt's statement about tax-deductibility. Neutral by default: whether a gift is
#: deductible depends on who receives the money, which only the operator knows.
#: Marked for the catalog: a receipt in Spanish shows its translation (an operator's own
#: statement is shown as written).
DEFAULT_RECEIPT_STATEMENT = N_(
    "Whether this gift is "
    "tax-deductible depends on the organization that receives the money and on your own tax "
    "situation: gifts to a registered charity usually are, gifts to other organizations "
    "usually are not. Keep this receipt for your records and ask a tax adviser."
)


def digest_hour_setting(raw: str) -> int:
    """RELIEF_DIGEST_HOUR, checked: an hour of the day, 0 to 23."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and 0 <= int(text) <= 23):
        raise ConfigError(f"RELIEF_DIGEST_HOUR must be an hour from 0 to 23, got {raw[:30]!r}.")
    return int(text)


def webhooks_setting(raw: str) -> str:
    """RELIEF_WEBHOOKS, checked: "inline" or "kept"."""
    text = raw.strip().lower()
    if text not in ("inline", "kept"):
        raise ConfigError(f"RELIEF_WEBHOOKS must be inline or kept, got {raw[:30]!r}.")
    return text


def ein_setting(raw: str) -> str:
    """RELIEF_ORG_EIN, checked: a US Employer Identification Number, 12-3456789 (or empty)."""
    digits = raw.strip().replace("-", "")
    if not digits:
        return ""
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        raise ConfigError(
            f"RELIEF_ORG_EIN must be nine digits such as 12-3456789, got {raw[:30]!r}."
        )
    return f"{digits[:2]}-{digits[2:]}"


#: The SMTP URL schemes and their default ports: plain (a relay on loopback), STARTTLS, TLS.
SMTP_SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}
#: Who mail is from when RELIEF_MAIL_FROM is not set (mail is then only kept, never sent).
DEFAULT_MAIL_FROM = "Relief <relief@localhost>"


def smtp_settings(raw: str) -> dict | None:
    """RELIEF_SMTP_URL as the mail sender's settings; None when unset (mail is kept in the
    outbox, not sent). ``smtp://host:port``, ``smtp+starttls://user:pass@host:587`` or
    ``smtps://user:pass@host``; a user name or password with ``@`` or ``:`` is %-encoded."""
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"RELIEF_SMTP_URL is not a URL: {raw[:100]!r}.") from None
    if parts.scheme not in SMTP_SCHEMES:
        raise ConfigError(
            "RELIEF_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://, "
            f"got {parts.scheme or 'no scheme'}."
        )
    if not parts.hostname:
        raise ConfigError("RELIEF_SMTP_URL names no host, e.g. smtp+starttls://user:pass@host:587.")
    if parts.path not in ("", "/") or parts.query:
        raise ConfigError(
            "RELIEF_SMTP_URL takes no path or query: smtp+starttls://user:pass@host:587."
        )
    if parts.password and parts.scheme == "smtp" and parts.hostname not in LOOPBACK:
        raise ConfigError(
            "RELIEF_SMTP_URL would send a password unencrypted: use smtp+starttls:// or smtps://."
        )
    return {
        "scheme": parts.scheme,
        "host": parts.hostname,
        "port": port or SMTP_SCHEMES[parts.scheme],
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }


LOOPBACK = ("127.0.0.1", "::1", "localhost")


def mail_from(raw: str, smtp: dict | None) -> str:
    """RELIEF_MAIL_FROM, checked to be one address (with an optional name)."""
    if not raw:
        if smtp is not None:
            raise ConfigError(
                "RELIEF_MAIL_FROM is required with RELIEF_SMTP_URL, "
                'e.g. "Relief coalition <receipts@relief.example.org>".'
            )
        return DEFAULT_MAIL_FROM
    found = getaddresses([raw])
    name, address = found[0] if len(found) == 1 else ("", "")
    local, _, domain = address.rpartition("@")
    try:
        Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError):
        local = ""
    if not local or ("." not in domain and domain != "localhost") or "\n" in raw:
        raise ConfigError(
            f"RELIEF_MAIL_FROM must be one email address, e.g. "
            f'"Relief coalition <receipts@relief.example.org>", got {raw[:100]!r}.'
        )
    return raw.strip()


def _secret_key(env: dict, instance_path: str, production: bool) -> str:
    key = env.get("SECRET_KEY")
    if key:
        return key
    if production:
        raise ConfigError("SECRET_KEY is required when RELIEF_ENV=production.")
    # Development: generate once and keep it, so sessions survive a restart.
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def from_environment(instance_path: str, env: dict | None = None) -> dict:
    """Build the Flask config mapping from environment variables (see README, Configuration)."""
    env = dict(os.environ if env is None else env)
    relief_env = env.get("RELIEF_ENV", "development")
    if relief_env not in ("development", "production", "test"):
        raise ConfigError(
            f"RELIEF_ENV must be development, production or test, got {relief_env!r}."
        )
    production = relief_env == "production"
    Path(instance_path).mkdir(parents=True, exist_ok=True)

    stripe_key = env.get("STRIPE_SECRET_KEY", "")
    if production and not stripe_key:
        raise ConfigError(
            "STRIPE_SECRET_KEY is required when RELIEF_ENV=production "
            "(test mode, where no money moves, is refused in production)."
        )
    if stripe_key and not env.get("STRIPE_WEBHOOK_SECRET"):
        raise ConfigError(
            "STRIPE_WEBHOOK_SECRET is required when STRIPE_SECRET_KEY is set: "
            "gifts are recorded only from signed webhooks."
        )

    smtp = smtp_settings(env.get("RELIEF_SMTP_URL", "").strip())
    config = {
        "RELIEF_ENV": relief_env,
        "SECRET_KEY": _secret_key(env, instance_path, production),
        "DATABASE_URL": database_url_for(env.get("DATABASE_URL"), instance_path),
        "STRIPE_SECRET_KEY": stripe_key,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", ""),
        # The coalition's time zone: every date shown and every day and month boundary.
        "RELIEF_TIMEZONE": timezone_setting(env.get("RELIEF_TIMEZONE")),
        "RELIEF_ORG_NAME": env.get("RELIEF_ORG_NAME", "Relief coalition"),
        "RELIEF_PUBLIC_URL": env.get("RELIEF_PUBLIC_URL", ""),
        # Who journalists should write to; printed on the press report.
        "RELIEF_PRESS_CONTACT": env.get("RELIEF_PRESS_CONTACT", "").strip()[:300],
        # Who receives the money, as a donor files it: printed on every receipt and
        # year-end statement (README, Receipts).
        "RELIEF_ORG_LEGAL_NAME": (
            env.get("RELIEF_ORG_LEGAL_NAME", "").strip()[:200]
            or env.get("RELIEF_ORG_NAME", "Relief coalition")
        ),
        "RELIEF_ORG_EIN": ein_setting(env.get("RELIEF_ORG_EIN", "")),
        "RELIEF_ORG_ADDRESS": env.get("RELIEF_ORG_ADDRESS", "").strip()[:300],
        # Where donors write with questions: on the gift page, receipts and emails.
        "RELIEF_CONTACT_EMAIL": env.get("RELIEF_CONTACT_EMAIL", "").strip()[:320],
        "RELIEF_RECEIPT_STATEMENT": (
            env.get("RELIEF_RECEIPT_STATEMENT", "").strip() or DEFAULT_RECEIPT_STATEMENT
        ),
        # None: emails are kept in the outbox for the admin, not sent (relief/mail).
        "SMTP": smtp,
        "MAIL_FROM": mail_from(env.get("RELIEF_MAIL_FROM", "").strip(), smtp),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", ""),
        # Treasurers and admins must sign in with a second factor (enrolled at next sign-in).
        "RELIEF_REQUIRE_2FA": _switch(env, "RELIEF_REQUIRE_2FA"),
        # "kept" (the default, as Stripe advises: answer at once, process from a queue): the
        # webhook keeps each signed event and the worker records kept events in runs
        # (relief/payments/drain.py); "inline": the webhook records each event in its answer.
        "RELIEF_WEBHOOKS": webhooks_setting(env.get("RELIEF_WEBHOOKS", "kept")),
        # The hour (0-23, the coalition's time zone) the worker queues the daily digest.
        "RELIEF_DIGEST_HOUR": digest_hour_setting(env.get("RELIEF_DIGEST_HOUR", "7")),
        # One machine only: a file the app's processes share to say "something was committed"
        # (relief/pagecache/counter.py); unset, every cached page asks the database.
        "CHANGE_COUNTER": env.get("RELIEF_CHANGE_COUNTER", ""),
        # Seconds browsers and CDNs may keep a public drive page or API answer (relief/pagecache).
        "PUBLIC_MAX_AGE": _int_setting(env, "RELIEF_PUBLIC_MAX_AGE", 5),
        "DONATION_MIN_CENTS": _int_setting(env, "DONATION_MIN_CENTS", 500),
        "DONATION_MAX_CENTS": _int_setting(env, "DONATION_MAX_CENTS", 5_000_000),
        # Stripe's standard US card pricing, 2.9% + 30¢ (basis points and cents); a coalition
        # Stripe has granted its nonprofit rate sets FEE_PERCENT_BPS=220 (README).
        "FEE_PERCENT_BPS": _int_setting(env, "FEE_PERCENT_BPS", 290),
        "FEE_FIXED_CENTS": _int_setting(env, "FEE_FIXED_CENTS", 30),
        # Stripe Billing's fee on each subscription payment (a monthly gift), 0.7%.
        "FEE_MONTHLY_BPS": _int_setting(env, "FEE_MONTHLY_BPS", 70),
        # Proxies in front of the app that set X-Forwarded-For/-Proto: sign-in throttling and
        # the audit log need the client's address, not the proxy's.
        "TRUSTED_PROXIES": _int_setting(env, "RELIEF_TRUSTED_PROXIES", 0),
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "PREFERRED_URL_SCHEME": "https" if production else "http",
    }
    if config["PUBLIC_MAX_AGE"] < 0:
        raise ConfigError("RELIEF_PUBLIC_MAX_AGE must be 0 or more seconds.")
    if config["DONATION_MIN_CENTS"] < 50:
        raise ConfigError("DONATION_MIN_CENTS must be at least 50 (Stripe's minimum charge).")
    if config["DONATION_MAX_CENTS"] <= config["DONATION_MIN_CENTS"]:
        raise ConfigError("DONATION_MAX_CENTS must be larger than DONATION_MIN_CENTS.")
    return config
