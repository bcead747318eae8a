import pytest

from relief.config import ConfigError, database_url_for, from_environment


def test_production_requires_a_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is required when RELIEF_ENV=production"):
        from_environment(str(tmp_path), {"RELIEF_ENV": "production"})


def test_production_refuses_test_mode(tmp_path):
    with pytest.raises(ConfigError, match="STRIPE_SECRET_KEY is required"):
        from_environment(str(tmp_path), {"RELIEF_ENV": "production", "SECRET_KEY": "x"})


def test_development_keeps_a_generated_secret_key(tmp_path):
    first = from_environment(str(tmp_path), {})["SECRET_KEY"]
    assert len(first) == 64
    assert from_environment(str(tmp_path), {})["SECRET_KEY"] == first


def test_database_url_defaults_to_sqlite_in_instance_folder(tmp_path):
    assert database_url_for(None, str(tmp_path)) == f"sqlite:///{tmp_path}/relief.db"
    assert database_url_for("postgresql://u@h:5432/d", "") == "postgresql+psycopg://u@h:5432/d"


def test_bad_numbers_are_explained(tmp_path):
    with pytest.raises(ConfigError, match="DONATION_MIN_CENTS must be a whole number"):
        from_environment(str(tmp_path), {"DONATION_MIN_CENTS": "five"})
