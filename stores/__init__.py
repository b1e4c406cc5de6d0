"""Rasa store adapters (tracker store) that fail loudly instead of losing context."""
