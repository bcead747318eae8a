"""The command line as a coalition's organizer uses it; bad input writes nothing."""

import pytest
from sqlmodel import func, select

from relief.models import Chapter, Drive, Entry, Gift


def invoke(runner, *args):
    return runner.invoke(args=list(args), catch_exceptions=False)


def counts(app):
    from sqlmodel import Session

    with Session(app.extensions["relief.engine"]) as s:
        return tuple(
            s.exec(select(func.count()).select_from(m)).one() for m in (Chapter, Drive, Gift, Entry)
        )


def setup_missouri(runner):
    for slug, name in (
        ("mid-missouri", "Mid-Missouri"),
        ("st-louis", "St. Louis"),
        ("kansas-city", "Kansas City"),
    ):
        assert (
            invoke(runner, "chapter", "add", slug, "--name", name, "--region", "MO").exit_code == 0
        )
    result = invoke(
        runner,
        "drive",
        "add",
        "mo-2026",
        "--title",
        "Missouri Medical Debt Jubilee",
        "--goal",
        "1600",
        "--chapters",
        "mid-missouri,st-louis,kansas-city",
        "--ends",
        "2026-12-31",
    )
    assert result.exit_code == 0, result.output


def test_the_missouri_example_from_the_command_line(app, runner, client):
    setup_missouri(runner)
    for chapter, dollars in (
        ("mid-missouri", "600"),
        ("st-louis", "500.00"),
        ("kansas-city", "500"),
    ):
        result = invoke(
            runner,
            "gift",
            "add",
            "mo-2026",
            dollars,
            "--chapter",
            chapter,
            "--method",
            "check",
            "--name",
            "A donor",
        )
        assert result.exit_code == 0, result.output
    assert "has raised $1,600.00" in result.output
    api = client.get("/api/drives/mo-2026").get_json()
    assert api["raised_cents"] == 160_000
    assert api["projected_relief_cents"] == 16_000_000
    page = client.get("/drives/mo-2026").get_data(as_text=True)
    assert "$1,600.00" in page and "$160,000" in page
    assert invoke(runner, "ledger", "verify").output.strip() == "mo-2026: exact"


def test_db_upgrade_is_idempotent(runner):
    assert invoke(runner, "db", "upgrade").exit_code == 0
    assert invoke(runner, "db", "upgrade").exit_code == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("gift", "add", "mo-2026", "0"), "more than zero"),
        (("gift", "add", "mo-2026", "--", "-5"), "more than zero"),
        (("gift", "add", "mo-2026", "ten"), "not an amount"),
        (("gift", "add", "mo-2026", "5.001"), "two decimals"),
        (("gift", "add", "mo-2026", "100000000000"), "at most"),
        (("gift", "add", "nowhere", "5"), "no drive"),
        (("gift", "add", "mo-2026", "5", "--chapter", "springfield"), "no chapter"),
        (("gift", "add", "mo-2026", "5", "--method", "bitcoin"), "bitcoin"),
        (
            (
                "drive",
                "add",
                "mo-2026",
                "--title",
                "Again",
                "--goal",
                "5",
                "--chapters",
                "st-louis",
            ),
            "exists already",
        ),
        (
            ("drive", "add", "x", "--title", "X", "--goal", "0", "--chapters", "st-louis"),
            "more than zero",
        ),
        (
            ("drive", "add", "x", "--title", "X", "--goal", "5", "--chapters", "st-louis,nope"),
            "no chapter",
        ),
        (
            ("drive", "add", "Bad Slug", "--title", "X", "--goal", "5", "--chapters", "st-louis"),
            "lowercase",
        ),
        (
            (
                "drive",
                "add",
                "x",
                "--title",
                "X",
                "--goal",
                "5",
                "--chapters",
                "st-louis",
                "--ends",
                "2026-13-01",
            ),
            "not a date",
        ),
        (
            (
                "drive",
                "add",
                "x",
                "--title",
                "X",
                "--goal",
                "5",
                "--chapters",
                "st-louis",
                "--ratio",
                "0",
            ),
            "not a ratio",
        ),
        (("chapter", "add", "st-louis", "--name", "Twice"), "exists already"),
        (("chapter", "add", "ok-slug", "--name", ""), "required"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(app, runner, args, says):
    setup_missouri(runner)
    before = counts(app)
    result = invoke(runner, *args)
    assert result.exit_code != 0
    assert says in result.output
    assert counts(app) == before


def test_a_chapter_not_in_the_drive_is_refused(app, runner):
    setup_missouri(runner)
    invoke(runner, "chapter", "add", "springfield", "--name", "Springfield")
    before = counts(app)
    result = invoke(runner, "gift", "add", "mo-2026", "5", "--chapter", "springfield")
    assert result.exit_code != 0 and "does not take part" in result.output
    assert counts(app) == before


def test_demo_builds_a_drive_with_weeks_of_gifts(runner, client):
    result = invoke(runner, "demo")
    assert result.exit_code == 0, result.output
    api = client.get("/api/drives/missouri-medical-debt").get_json()
    assert api["donation_count"] > 10 and len(api["chapters"]) == 3
    result = invoke(runner, "demo", "--gifts", "1200")
    assert "Added 1200 gifts" in result.output
    after = client.get("/api/drives/missouri-medical-debt").get_json()
    assert after["donation_count"] == api["donation_count"] + 1200
    assert invoke(runner, "ledger", "verify").exit_code == 0


def test_every_command_has_help(runner):
    for group in ("chapter add", "drive add", "gift add", "db upgrade", "demo", "ledger verify"):
        result = invoke(runner, *group.split(), "--help")
        assert result.exit_code == 0 and "Usage" in result.output


def test_a_database_without_schema_gets_a_sentence_not_a_traceback(tmp_path):
    from tests.conftest import make_app

    runner = make_app(f"sqlite:///{tmp_path}/empty.db").test_cli_runner()
    result = runner.invoke(args=["chapter", "add", "x", "--name", "X"])
    assert result.exit_code == 1
    assert "no schema yet: run  flask --app app db upgrade" in result.output
    assert "Traceback" not in result.output
