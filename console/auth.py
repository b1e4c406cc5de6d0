"""Login, logout and role checks (Flask-Login; passwords hashed with werkzeug.security)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import LoginManager, current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from bot import db
from console.models import ConsoleUser, find_user

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please log in."

F = TypeVar("F", bound=Callable[..., Any])


@login_manager.user_loader
def load_user(username: str) -> ConsoleUser | None:
    """The logged-in user by name (detached from its session)."""
    with db.session_scope(current_app.config["DATABASE_URL"]) as session:
        user = find_user(session, username)
        if user is not None:
            session.expunge(user)
        return user


def role_required(*roles: str) -> Callable[[F], F]:
    """View decorator: the user must be logged in and have one of ``roles`` (else 403)."""

    def decorate(view: F) -> F:
        @wraps(view)
        @login_required
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


class LoginForm(FlaskForm):  # type: ignore[misc]
    """User name and password."""

    username = StringField("User name", validators=[DataRequired(), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


def _safe_next(target: str | None) -> str | None:
    # only a path on this site: an absolute URL would make the login page an open redirect
    if not target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        with db.session_scope(current_app.config["DATABASE_URL"]) as session:
            user = find_user(session, form.username.data.strip())
            ok = user is not None and user.check_password(form.password.data)
            if user is not None:
                session.expunge(user)
        if ok and user is not None:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or url_for("queue.index"))
        flash("Wrong user name or password.", "error")
        return render_template("login.html", form=form), 401
    status = 400 if request.method == "POST" else 200  # a missing field or a stale CSRF token
    return render_template("login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout() -> Any:
    logout_user()
    return redirect(url_for("auth.login"))
