"""Blueprints: thin — parse input, call one service, render."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from relief.views import api, donate, health, public, webhook

    app.register_blueprint(health.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(donate.bp)
    app.register_blueprint(webhook.bp)
