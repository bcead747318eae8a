"""Settings read from the environment once, at start-up, and checked with sentences."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

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
DEFAULT_RECEIPT_STATEMENT = (
    "No goods or services were provided in exchange for this gift. Whether it is "
    "tax-deductible depends on the organization that receives the money and on your own tax "
    "situation: gifts to a registered charity usually are, gifts to other organizations "
    "usually are not. Keep this receipt for your records and ask a tax adviser."
)


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

    config = {
        "RELIEF_ENV": relief_env,
        "SECRET_KEY": _secret_key(env, instance_path, production),
        "DATABASE_URL": database_url_for(env.get("DATABASE_URL"), instance_path),
        "STRIPE_SECRET_KEY": stripe_key,
        "STRIPE_WEBHOOK_SECRET": env.get("STRIPE_WEBHOOK_SECRET", ""),
        "STRIPE_API_BASE": env.get("STRIPE_API_BASE", ""),
        "RELIEF_ORG_NAME": env.get("RELIEF_ORG_NAME", "Relief coalition"),
        "RELIEF_PUBLIC_URL": env.get("RELIEF_PUBLIC_URL", ""),
        "RELIEF_RECEIPT_STATEMENT": (
            env.get("RELIEF_RECEIPT_STATEMENT", "").strip() or DEFAULT_RECEIPT_STATEMENT
        ),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", ""),
        # One machine only: a file the app's processes share to say "something was committed"
        # (relief/pagecache/counter.py); unset, every cached page asks the database.
        "CHANGE_COUNTER": env.get("RELIEF_CHANGE_COUNTER", ""),
        # Seconds browsers and CDNs may keep a public drive page or API answer (relief/pagecache).
        "PUBLIC_MAX_AGE": _int_setting(env, "RELIEF_PUBLIC_MAX_AGE", 5),
        "DONATION_MIN_CENTS": _int_setting(env, "DONATION_MIN_CENTS", 500),
        "DONATION_MAX_CENTS": _int_setting(env, "DONATION_MAX_CENTS", 5_000_000),
        # Stripe's US standard card pricing, 2.2% + 30¢ for nonprofits; in basis points and cents.
        "FEE_PERCENT_BPS": _int_setting(env, "FEE_PERCENT_BPS", 220),
        "FEE_FIXED_CENTS": _int_setting(env, "FEE_FIXED_CENTS", 30),
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
