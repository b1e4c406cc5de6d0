"""rasa_sdk custom actions: thin adapters between the conversation tracker and the core in ``bot/``,
one module per capability (``common`` holds what they share)."""

from bot import logmask
from bot.compliance.profiles import all_profiles
from bot.settings import company, helplines, promise_rules, verification_rules

logmask.install()  # no phone, date of birth or account reference in the action server's logs
# rule files are checked when the action server starts: a bad file stops it with a message
# naming the file and field, instead of failing in the middle of a conversation
all_profiles()
verification_rules()
promise_rules()
helplines()
company()
