"""Repayment: the plan engine, I&E (affordability), negotiation, arrangements and promises to pay."""
