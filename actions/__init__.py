"""rasa_sdk custom actions: thin adapters between the conversation tracker and the core in ``bot/``."""
