"""Compliance engine: jurisdiction profiles as data, the outbound contact gate, the content lint
and the append-only audit log. Plain Python; no Rasa."""
