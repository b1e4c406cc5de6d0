"""Outreach: segments, strategies, the early-warning risk model, the demo portfolio and campaigns
(who is contacted, when, on which channel)."""
