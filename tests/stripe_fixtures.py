"""Fixtures for the payment tests (import them into a test module with ``from … import *``)."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from tests.conftest import make_app
from tests.fake_stripe import FakeStripe
from tests.stripe_objects import WEBHOOK_SECRET

__all__ = ["fake_stripe", "stripe_app", "stripe_client", "stripe_session"]


@pytest.fixture
def fake_stripe():
    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_app(database_url, fake_stripe):
    """The app with Stripe keys, its API pointed at the local fake over real HTTP."""
    app = make_app(
        database_url,
        STRIPE_SECRET_KEY="sk_test_relief",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=fake_stripe.url,
    )
    yield app
    app.extensions["relief.engine"].dispose()


@pytest.fixture
def stripe_client(stripe_app):
    return stripe_app.test_client()


@pytest.fixture
def stripe_session(stripe_app):
    with stripe_app.app_context():
        with Session(stripe_app.extensions["relief.engine"], expire_on_commit=False) as session:
            yield session
