"""Donors' gift links and the CLI share one id: unguessable, and never read as an option."""

from unittest import mock

from relief.models import new_public_id


def test_a_public_id_never_starts_with_a_hyphen():
    drawn = iter(["-starts-with-hyphen-xx", "Aok_second_draw_123456"])
    with mock.patch("relief.models.base.secrets.token_urlsafe", lambda _n: next(drawn)):
        assert new_public_id() == "Aok_second_draw_123456"


def test_public_ids_are_long_and_distinct():
    ids = {new_public_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 22 for i in ids)
