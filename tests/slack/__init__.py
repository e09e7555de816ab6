"""Test doubles for Slack: a local Web API stand-in and requests signed as Slack signs them."""
