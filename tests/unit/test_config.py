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


def test_an_smtp_url_is_read_with_its_scheme_port_and_encoded_credentials(tmp_path):
    config = from_environment(
        str(tmp_path),
        {
            "RELIEF_SMTP_URL": "smtp+starttls://relief%40mo.org:p%3Ass@mail.example.org",
            "RELIEF_MAIL_FROM": "Relief coalition <receipts@relief.example.org>",
        },
    )
    assert config["SMTP"] == {
        "scheme": "smtp+starttls",
        "host": "mail.example.org",
        "port": 587,
        "username": "relief@mo.org",
        "password": "p:ss",
    }
    assert config["MAIL_FROM"] == "Relief coalition <receipts@relief.example.org>"
    assert from_environment(str(tmp_path), {})["SMTP"] is None  # mail is kept, not sent


@pytest.mark.parametrize(
    "env, sentence",
    [
        ({"RELIEF_SMTP_URL": "http://mail.example.org"}, "must start with smtp://"),
        ({"RELIEF_SMTP_URL": "smtps://"}, "names no host"),
        ({"RELIEF_SMTP_URL": "smtp://mail.example.org:99999"}, "is not a URL"),
        ({"RELIEF_SMTP_URL": "smtp://u:p@mail.example.org"}, "password unencrypted"),
        ({"RELIEF_SMTP_URL": "smtp://127.0.0.1:25"}, "RELIEF_MAIL_FROM is required"),
        ({"RELIEF_MAIL_FROM": "receipts"}, "RELIEF_MAIL_FROM must be one email address"),
        ({"RELIEF_MAIL_FROM": "a@x.org, b@x.org"}, "RELIEF_MAIL_FROM must be one email"),
    ],
)
def test_bad_mail_settings_stop_start_up_with_a_sentence(tmp_path, env, sentence):
    with pytest.raises(ConfigError, match=sentence):
        from_environment(str(tmp_path), env)
