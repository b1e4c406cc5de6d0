"""The project's own Rasa input channels (REST, web chat), hardened against bad input and outages."""
