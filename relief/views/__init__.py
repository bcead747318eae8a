"""Blueprints: thin — parse input, call one service, render."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from relief.views import (
        account,
        admin,
        api,
        donate,
        donor,
        health,
        members,
        organizer,
        public,
        reports,
        treasurer,
        webhook,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(reports.bp)
    app.register_blueprint(account.bp)
    app.register_blueprint(treasurer.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(organizer.bp)
    app.register_blueprint(donate.bp)
    app.register_blueprint(donor.bp)
    app.register_blueprint(members.bp)
    app.register_blueprint(webhook.bp)
    for staff in (account.bp, treasurer.bp, admin.bp, organizer.bp):
        # First of each staff blueprint's hooks, after the app's own (unit of work, CSRF).
        app.before_request_funcs.setdefault(staff.name, []).insert(0, account.two_factor_required)
