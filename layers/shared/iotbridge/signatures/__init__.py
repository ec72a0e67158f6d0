"""Webhook signatures the relay verifies and the connector function signs with."""
