"""Helpers the suites import: plain functions, classes and constants. The
fixtures live in tests/fixtures/ (registered in tests/conftest.py) and in the
conftest.py of the one directory that uses them."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: alembic.ini, deploy/, docker-compose.yml
