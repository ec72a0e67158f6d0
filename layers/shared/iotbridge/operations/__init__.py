"""Operators' command-line tools: dead-letter triage and replay."""
