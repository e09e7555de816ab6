"""Renderers: one diagnosis, shown as JSON, on a terminal, or (later) in Slack."""
