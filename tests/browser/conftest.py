"""Browser tests: Debian's Chromium through pytest-playwright (never `playwright install`)."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": "/usr/bin/chromium",
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def live_app(sqlite_url):
    """The app in test mode (no Stripe keys) on a SQLite database, served from a thread."""
    from tests.conftest import make_app

    app = make_app(sqlite_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    yield app
    server.shutdown()
    server.server_close()
    app.extensions["relief.engine"].dispose()
