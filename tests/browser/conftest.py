"""A live server in a thread and Debian's Chromium driven by Playwright (never a downloaded one)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import make_app


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
            "--disable-quic",
        ],
    }


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.app.config["LIVE_URL"] = self.url
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.app.extensions["relief.engine"].dispose()


@pytest.fixture
def live_app(sqlite_url):
    return make_app(sqlite_url)


@pytest.fixture
def live_server(live_app):
    with LiveServer(live_app) as server:
        yield server


@pytest.fixture
def screens(tmp_path) -> Path:
    """Where screenshots go: $RELIEF_SCREENS_DIR to keep them for a person to look at, else
    the test's own tmp dir (never a fixed path outside the run)."""
    directory = Path(os.environ.get("RELIEF_SCREENS_DIR") or tmp_path / "screens")
    directory.mkdir(parents=True, exist_ok=True)
    return directory
