"""The console's Flask application factory."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import redis
from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect

from bot import db
from console import auth, labels
from console.models import ensure_tables

ROOT = Path(__file__).resolve().parent.parent
csrf = CSRFProtect()


def _secret_key() -> str:
    """``CONSOLE_SECRET`` or a random key kept in ``var/console_secret`` (sessions survive restarts)."""
    env = os.environ.get("CONSOLE_SECRET")
    if env:
        return env
    path = ROOT / "var" / "console_secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def default_config() -> dict[str, Any]:
    """Settings from the environment: DATABASE_URL, REDIS_HOST/PORT/DB/PASSWORD, RASA_URL (the
    Rasa server's HTTP API, default http://127.0.0.1:RASA_PORT), RASA_API_TOKEN, the Twilio
    settings (bot.telephony.TwilioSettings) and WEBCHAT_DELIVERY_URL."""
    rasa_port = os.environ.get("RASA_PORT", "5005")
    rasa_url = os.environ.get("RASA_URL", f"http://127.0.0.1:{rasa_port}").rstrip("/")
    return {
        "DATABASE_URL": db.database_url(),
        "REDIS_HOST": os.environ.get("REDIS_HOST", "127.0.0.1"),
        "REDIS_PORT": int(os.environ.get("REDIS_PORT", "6390")),
        "REDIS_DB": int(os.environ.get("REDIS_DB", "0")),
        "REDIS_PASSWORD": os.environ.get("REDIS_PASSWORD") or None,
        "RASA_URL": rasa_url,
        "RASA_API_TOKEN": os.environ.get("RASA_API_TOKEN", ""),
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", ""),
        "TWILIO_NUMBER": os.environ.get("TWILIO_NUMBER", ""),
        "TWILIO_API_BASE_URL": os.environ.get("TWILIO_API_BASE_URL", "https://api.twilio.com").rstrip("/"),
        "COLLECTOR_PHONE": os.environ.get("COLLECTOR_PHONE", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "WTF_CSRF_TIME_LIMIT": 8 * 3600,  # a working day on one page
    }


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """The console app. ``config`` overrides :func:`default_config` (tests pass DATABASE_URL,
    REDIS_PORT, ...). Every form and every state-changing JSON call is CSRF-protected."""
    app = Flask(__name__)
    app.config.update(default_config())
    app.config["SECRET_KEY"] = _secret_key()
    app.config.update(config or {})
    ensure_tables(app.config["DATABASE_URL"])
    csrf.init_app(app)
    auth.login_manager.init_app(app)

    from console import compliance, ops, views

    app.register_blueprint(auth.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(ops.bp)
    app.register_blueprint(compliance.bp)

    @app.context_processor
    def helpers() -> dict[str, Any]:
        # lets the nav link to blueprints that are registered (ops pages) without hard-coding them
        return {"endpoint_exists": lambda name: name in app.view_functions}

    # readable labels for codes: "twilio_sms" is "SMS", "beyond_authority" is its reason's label
    app.add_template_filter(labels.channel_label, "channel_label")
    app.add_template_filter(labels.reason_label, "reason_label")
    app.add_template_filter(labels.code_label, "code_label")
    app.add_template_filter(labels.wait_label, "wait_label")

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError) -> Any:
        return render_template(
            "error.html",
            message=f"The form expired or was not sent from this site ({exc.description}). Reload the page and try again.",
        ), 400

    @app.errorhandler(redis.exceptions.RedisError)
    def queue_unreachable(exc: Exception) -> Any:
        app.logger.error("handoff queue unreachable: %s", exc)
        return render_template(
            "error.html", message="The queue store (Redis) is unreachable. Nothing was changed; try again shortly."
        ), 503

    def _api_call() -> bool:  # scripts get JSON errors, people get pages
        return request.path.startswith("/api/") or "/api/" in request.path

    @app.errorhandler(403)
    def forbidden(_: Any) -> Any:
        if _api_call():
            return jsonify({"error": "forbidden", "message": "your role does not allow this"}), 403
        return render_template("error.html", message="Your role does not allow this page."), 403

    @app.errorhandler(404)
    def not_found(_: Any) -> Any:
        if _api_call():
            return jsonify({"error": "not_found", "message": "no such ticket or resource"}), 404
        return render_template("error.html", message="Not found."), 404

    @app.after_request
    def security_headers(response: Any) -> Any:
        # no inline script runs: debtor text is escaped, and this stops anything that slips through
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    return app
