"""Rasa graph components of the project: NLU components and dialogue policies."""
