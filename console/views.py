"""Queue, ticket and supervisor pages."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from console.auth import role_required

bp = Blueprint("queue", __name__)


@bp.route("/")
@role_required("collector", "supervisor")
def index() -> Any:
    return render_template("queue.html", tickets=[])


@bp.route("/supervisor")
@role_required("supervisor")
def supervisor() -> Any:
    return render_template("queue.html", tickets=[])
