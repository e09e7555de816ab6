"""Agents: vantage points in other places that run the same checks for the bot.

An agent dials out to the bot (long-poll), so nothing listens on it; both sides
sign with Ed25519: the agent every request, the bot every job. The protocol is
pure (`protocol`), the bot's side is `hub` (HTTP) with `store` (the jobs in the
database) and `ask` (one question to several agents), and the agent's side is
`runner`.
"""
