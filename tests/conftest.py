"""Fixtures: every database test runs on SQLite and on a real PostgreSQL, schema from migrations.

Each test gets a fresh database copied from one migrated template (a file copy on SQLite,
``CREATE DATABASE … TEMPLATE`` on PostgreSQL), so tests are isolated and fast.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from relief.ledger import months
from tests.mailbox import Mailbox
from tests.postgres import LocalPostgres

# The app reads its settings from the environment: keep the developer's out of the tests.
for _name in (
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "RELIEF_ENV",
    "RELIEF_TIMEZONE",
    "RATELIMIT_STORAGE_URI",
):
    os.environ.pop(_name, None)
os.environ["SECRET_KEY"] = "test-secret-key"
os.environ["RELIEF_ENV"] = "test"
# Most webhook tests read what the webhook answers Stripe about each event (held, parked, a
# duplicate, a 500 that Stripe retries): they run inline, each event recorded in its answer
# (servers and workers the tests start inherit it). The default, RELIEF_WEBHOOKS=kept, runs
# the same recording in the worker's drain: tests/stories walk it for every story, and
# test_kept_webhooks and test_webhook_batches prove the drain and the bulk path against it.
os.environ["RELIEF_WEBHOOKS"] = "inline"
# The app's days are the coalition's (UTC unless a test sets RELIEF_TIMEZONE) and the tests
# take theirs from date.today(): both on UTC's clock, so that the suite run by a treasurer in
# Missouri at 8 pm (already tomorrow in UTC) agrees with the app. Servers, browsers and workers
# the tests start inherit it.
os.environ["TZ"] = "UTC"
time.tzset()

_counter = itertools.count()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory):
    from relief.db import upgrade

    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of the server's maintenance database (started here unless given)."""
    given = os.environ.get("RELIEF_TEST_POSTGRES_URL")
    if given:
        yield given.replace("postgresql://", "postgresql+psycopg://", 1)
        return
    server = LocalPostgres()
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server):
    from relief.db import upgrade

    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text("DROP DATABASE IF EXISTS relief_template"))
        connection.execute(text("CREATE DATABASE relief_template"))
    template_url = make_url(postgres_server).set(database="relief_template")
    upgrade(template_url.render_as_string(hide_password=False))
    yield admin
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A fresh, migrated database for one test, on each backend in turn."""
    if request.param == "sqlite":
        path = tmp_path / "relief.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin = request.getfixturevalue("postgres_template")
    server = request.getfixturevalue("postgres_server")
    name = f"relief_test_{os.getpid()}_{next(_counter)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE relief_template'))
    yield make_url(server).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template):
    """A fresh migrated SQLite database, for tests that need only one backend (browser)."""
    path = tmp_path / "relief.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_app(database_url: str, **config):
    from relief import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, **config})
    return app


@pytest.fixture
def app(database_url):
    app = make_app(database_url)
    yield app
    app.extensions["relief.engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A session on the test's database, outside any request (like a CLI command)."""
    from sqlmodel import Session

    with Session(app.extensions["relief.engine"], expire_on_commit=False) as db_session:
        yield db_session


@pytest.fixture
def today() -> date:
    """The day the test runs, read once as it starts: every date the test derives from it
    agrees, and a run that crosses midnight does not leave it at the day of the import."""
    return date.today()


@pytest.fixture
def this_month(today) -> date:
    """The first day of ``today``'s month."""
    return months.first_of_month(today)


@pytest.fixture
def last_month(this_month) -> date:
    """The first day of the month before ``today``'s."""
    return months.first_of_month(this_month - timedelta(days=1))


@pytest.fixture
def mailbox():
    """A real SMTP server on loopback (aiosmtpd) that keeps what it receives."""
    server = Mailbox().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def coalition_zone_back_to_utc():
    """The coalition's zone is the process's (``create_app`` sets it from RELIEF_TIMEZONE): a
    test that made an app in America/Chicago must not leave a later test, which renders a
    report with no app at all, counting days in Chicago."""
    yield
    months.set_zone("UTC")
