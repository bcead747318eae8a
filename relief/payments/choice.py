"""Which Gateway the app uses: Stripe when a secret key is set, else test mode.

Apart from :mod:`gateway` (the interface both implement), so that the interface imports
neither implementation and the Stripe one imports only the interface.
"""

from __future__ import annotations

from flask import Flask

from relief.payments.gateway import Gateway
from relief.payments.stripe_gateway import StripeGateway
from relief.payments.testmode import TestGateway


def for_config(config) -> Gateway:
    """The gateway this configuration asks for: Stripe when a secret key is set."""
    if config.get("STRIPE_SECRET_KEY"):
        return StripeGateway(
            secret_key=config["STRIPE_SECRET_KEY"],
            webhook_secret=config["STRIPE_WEBHOOK_SECRET"],
            api_base=config.get("STRIPE_API_BASE") or None,
        )
    return TestGateway()


def for_app(app: Flask) -> Gateway:
    """The app's gateway, made once from its configuration (tests may put their own)."""
    if "relief.gateway" not in app.extensions:
        app.extensions["relief.gateway"] = for_config(app.config)
    return app.extensions["relief.gateway"]
