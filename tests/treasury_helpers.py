"""Helpers for tests of the signed-in screens (treasurer, organizer, admin): accounts made
through the service, a client that signs in through the real form and posts with the page's
real CSRF token, and a session for arranging or checking rows between its requests."""

from __future__ import annotations

import re
import secrets
from contextlib import contextmanager

from sqlmodel import Session

from relief import auth
from relief.models import Role

PASSWORD = "correct horse battery staple"
_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def make_user(session, email, chapter=None, role="treasurer", admin=False, password=PASSWORD):
    user = auth.add_user(
        session,
        email,
        password,
        chapter_slug=chapter,
        role=Role(role) if chapter else None,
        admin=admin,
    )
    session.commit()
    return user


def csrf_token(client, url="/login") -> str:
    page = client.get(url)
    match = _TOKEN.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1)


class SignedIn:
    """A test client signed in as one user; ``post`` adds the CSRF token like a browser, and a
    fresh one-time form token (``form_token``) as a freshly shown money form carries, unless
    the test gives its own."""

    def __init__(self, app, email, password=PASSWORD):
        self.client = app.test_client()
        response = self.client.post(
            "/login",
            data={"csrf_token": csrf_token(self.client), "email": email, "password": password},
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.token = csrf_token(self.client, "/treasurer/")

    def get(self, url, **kwargs):
        return self.client.get(url, **kwargs)

    def post(self, url, data=None, **kwargs):
        fields = {"csrf_token": self.token, "form_token": secrets.token_urlsafe(24), **(data or {})}
        return self.client.post(url, data=fields, **kwargs)


@contextmanager
def data(app):
    """A session for arranging or checking rows, in an app context popped at the end.

    (An app context held open for the whole test would be shared by the requests made
    meanwhile, and with it ``g`` — Flask-Login's and Flask-WTF's per-request caches.)
    """
    with app.app_context():
        with Session(app.extensions["relief.engine"], expire_on_commit=False) as session:
            yield session
