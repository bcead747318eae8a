"""Relief: joint fundraising drives of local chapters to abolish medical debt."""

from __future__ import annotations

from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """The app factory: settings from the environment (or ``config`` in tests), then extensions,
    blueprints and CLI commands. Importing the package does nothing."""
    from relief import auth, boundary, cli, db, i18n, pagecache, web
    from relief import config as settings
    from relief.ledger import months
    from relief.views import register_blueprints

    app = web.App(
        __name__,
        template_folder=str(settings.TEMPLATES),
        static_folder="static",
        instance_relative_config=True,
    )
    app.config.update(settings.from_environment(app.instance_path))
    if config:
        app.config.update(config)
        if "DATABASE_URL" in config:
            app.config["DATABASE_URL"] = settings.database_url_for(
                config["DATABASE_URL"], app.instance_path
            )
    # The coalition's calendar, for every date shown and every day and month the ledger keeps.
    app.config["RELIEF_TIMEZONE"] = settings.timezone_setting(app.config.get("RELIEF_TIMEZONE"))
    months.set_zone(app.config["RELIEF_TIMEZONE"])
    db.init_app(app)
    i18n.init_app(app)
    boundary.init_app(app)
    pagecache.init_app(app)
    web.init_app(app)  # the middleware around Flask, with pagecache's fast path
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        # Outermost: the fast path keys on the host and scheme it sets. (Flask's documented
        # way to wrap its WSGI app, which mypy takes for a method.)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    auth.init_app(app)
    register_blueprints(app)
    cli.init_app(app)
    _check_sums_zone(app)
    return app


def _check_sums_zone(app: Flask) -> None:
    """Refuse to start when the ledger's day and month sums are keyed in another time zone
    than RELIEF_TIMEZONE (``ledger.rekey``). Without a database or schema yet there is
    nothing to check: ``flask db upgrade`` keys the sums in the configured zone."""
    from sqlalchemy.exc import DBAPIError

    from relief import boundary
    from relief import config as settings
    from relief.errors import DomainError
    from relief.ledger import rekey

    zone = app.config["RELIEF_TIMEZONE"]
    try:
        with app.app_context():
            # Read first: a writer unit would queue behind other processes' writes on SQLite.
            with boundary.command(write=False) as session:
                problem = rekey.zone_problem(session, zone)
            if problem == rekey.ADOPT:
                with boundary.command() as session:
                    rekey.adopt(session, zone)
                problem = None
    except (DBAPIError, DomainError):
        return
    if problem:
        raise settings.ConfigError(problem)
