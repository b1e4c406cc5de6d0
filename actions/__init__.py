"""rasa_sdk custom actions: thin adapters between the conversation tracker and the core in ``bot/``."""

from bot import logmask

logmask.install()  # no phone, date of birth or account reference in the action server's logs
