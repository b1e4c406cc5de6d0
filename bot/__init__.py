"""Plain-Python core of the collections assistant. Nothing in this package imports Rasa."""
