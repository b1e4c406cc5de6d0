"""Console users in the system of record (table ``console_users``)."""

from __future__ import annotations

from typing import Any

from flask_login import UserMixin
from sqlalchemy import Column, DateTime, Integer, String, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from bot import db

ROLES = ("collector", "supervisor")
MIN_PASSWORD_CHARS = 10


class ConsoleUser(db.Base, UserMixin):  # type: ignore[misc]
    """A person who may log in to the console. ``role`` is "collector" or "supervisor"; the
    password is kept only as a salted hash (werkzeug's scrypt/pbkdf2 format)."""

    __tablename__ = "console_users"
    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True, index=True)
    password_hash = Column(String(255), nullable=False)
    role = Column(String(16), nullable=False, default="collector")
    created_at = Column(DateTime(timezone=True), nullable=False, default=db.utcnow)

    def check_password(self, password: str) -> bool:
        """Whether ``password`` matches the stored hash (constant-time comparison)."""
        return bool(check_password_hash(str(self.password_hash), password))

    def get_id(self) -> str:
        return str(self.username)


class UserError(ValueError):
    """A user cannot be created: bad name, role or password, or the name is taken."""


def create_user(session: Session, username: str, password: str, role: str = "collector") -> ConsoleUser:
    """Add a console user. Raises :class:`UserError` for an unknown role, a name that is not
    1-64 letters, digits, ``.``, ``_`` or ``-``, a password shorter than MIN_PASSWORD_CHARS, or a
    name already taken."""
    username = username.strip()
    if role not in ROLES:
        raise UserError(f"role must be one of {', '.join(ROLES)}")
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        raise UserError("user name: 1-64 letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_CHARS:
        raise UserError(f"password: at least {MIN_PASSWORD_CHARS} characters")
    if find_user(session, username) is not None:
        raise UserError(f"user {username!r} already exists")
    user = ConsoleUser(username=username, password_hash=generate_password_hash(password), role=role)
    session.add(user)
    session.flush()
    return user


def find_user(session: Session, username: str) -> ConsoleUser | None:
    """The user called ``username`` or None."""
    row: Any = session.execute(select(ConsoleUser).where(ConsoleUser.username == username)).scalar_one_or_none()
    return row  # type: ignore[no-any-return]


def ensure_tables(url: str | None = None) -> None:
    """Create the console tables (and the rest of the schema) when missing."""
    db.Base.metadata.create_all(db.get_engine(url))
