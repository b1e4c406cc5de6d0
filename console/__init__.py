"""The collector console: a Flask web app where collectors and supervisors work handoff tickets.

Entry point: :func:`console.app.create_app`; served by ``make run`` with waitress on CONSOLE_PORT.
"""
