"""`flask user …`: accounts and roles, from the command line (where the first admin comes from)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from relief import auth, boundary
from relief.errors import DomainError
from relief.models import Role
from relief.treasury import audit

user_cli = AppGroup("user", help="Accounts of treasurers, organizers and coalition admins.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("No password on standard input.")
        return password
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_cli.command("add")
@click.argument("email")
@click.option("--chapter", "chapter_slug", default=None, help="The chapter's slug.")
@click.option(
    "--role",
    type=click.Choice([role.value for role in Role]),
    default=None,
    help="The role in that chapter.",
)
@click.option("--admin", is_flag=True, help="A coalition admin: every chapter and the audit log.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_add(email, chapter_slug, role, admin, password_stdin):
    """Add an account, or give an existing one a role in another chapter.

    The password is asked twice (or read from standard input with --password-stdin); an
    existing account keeps its password.
    """
    try:
        with boundary.command() as session:
            existing = auth.find_user(session, email)
            needs_password = existing is None or existing.removed_at is not None
            password = _password(password_stdin) if needs_password else None
            user = auth.add_user(
                session,
                email,
                password,
                chapter_slug=chapter_slug,
                role=Role(role) if role else None,
                admin=admin,
            )
            what = f"{role} of {chapter_slug}" if chapter_slug else ""
            what = ", ".join(part for part in (what, "coalition admin" if admin else "") if part)
            audit.record(session, audit.CLI, "user.add", f"{user.email}: {what}")
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{user.email} is now {what}.")


@user_cli.command("reset-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def user_reset_password(email, password_stdin):
    """Set a new password; the account is signed out everywhere."""
    try:
        with boundary.command() as session:
            if auth.find_user(session, email) is None:
                raise click.ClickException(f"There is no account for {email}.")
            user, ended = auth.reset_password(session, email, _password(password_stdin))
            audit.record(
                session,
                audit.CLI,
                "user.reset_password",
                f"{user.email}: {ended} sign-in sessions ended",
            )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"New password set for {user.email}; {_sessions(ended)} signed out.")


@user_cli.command("sign-out")
@click.argument("email")
def user_sign_out(email):
    """End every sign-in session of the account (a lost laptop, a stolen cookie)."""
    try:
        with boundary.command() as session:
            user, ended = auth.sign_out_everywhere(session, email)
            audit.record(
                session, audit.CLI, "user.sign_out", f"{user.email}: {ended} sign-in sessions ended"
            )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"{user.email}: {_sessions(ended)} signed out.")


def _sessions(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'}"


@user_cli.command("remove")
@click.argument("email")
def user_remove(email):
    """Remove an account: it can no longer sign in and loses its roles (its history stays)."""
    try:
        with boundary.command() as session:
            user = auth.remove_user(session, email)
            audit.record(session, audit.CLI, "user.remove", user.email)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Removed {user.email}.")


@user_cli.command("list")
def user_list():
    """Every account and its roles."""
    with boundary.command(write=False) as session:
        for user, roles in auth.accounts(session):
            parts = [f"{role} of {slug}" for slug, role in roles]
            if user.is_admin:
                parts.insert(0, "coalition admin")
            if user.removed_at is not None:
                parts = [f"removed {user.removed_at.date().isoformat()}"]
            click.echo(f"{user.email}: {', '.join(parts) or 'no role'}")
