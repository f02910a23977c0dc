"""Monitoring artefacts generated from their one source."""
