"""Helpers the suites import: plain functions, classes and constants. The
fixtures live in tests/fixtures/ (registered in tests/conftest.py) and in the
conftest.py of the one directory that uses them."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: alembic.ini, deploy/, docker-compose.yml


def fresh_python(code: str) -> str:
    """What `code` prints, run by a Python process of its own (state this
    test process has - imported modules, the collector's - left out), from a
    folder outside the checkout, as an installed service runs."""
    import subprocess
    import sys
    import tempfile

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tempfile.gettempdir()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
