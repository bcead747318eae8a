"""Relief: joint fundraising drives of local chapters to abolish medical debt."""

from __future__ import annotations

from flask import Flask


def create_app(config: dict | None = None) -> Flask:
    """The app factory: settings from the environment (or ``config`` in tests), then extensions,
    blueprints and CLI commands. Importing the package does nothing."""
    from relief import auth, boundary, cli, db, pagecache, web
    from relief import config as settings
    from relief.views import register_blueprints

    app = Flask(
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
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        # Flask's documented way to wrap its WSGI app, which mypy takes for a method.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    db.init_app(app)
    boundary.init_app(app)
    pagecache.init_app(app)
    web.init_app(app)
    auth.init_app(app)
    register_blueprints(app)
    cli.init_app(app)
    return app
