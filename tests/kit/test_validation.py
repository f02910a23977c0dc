"""The text validators every schema shares: Storable (what PostgreSQL and
UTF-8 can hold) and Readable (RFC 9839: no control characters or
noncharacters, and something visible)."""

from typing import Annotated

import pytest
from pydantic import BaseModel, ValidationError

from servicekit.validation import Readable, Storable


class _Text(BaseModel):
    storable: Annotated[str, Storable] = ""
    readable: Annotated[str, Readable] = ""


@pytest.mark.parametrize("text", ["a\x00b", "\ud800"])
def test_storable_refuses_what_cannot_be_stored(text: str) -> None:
    with pytest.raises(ValidationError):
        _Text(storable=text)


@pytest.mark.parametrize(
    "text",
    [
        "bell\x07",
        "esc\x1b[31m",
        "del\x7f",
        "c1\x85",
        "nonchar\ufdd0",
        "nonchar\uffff",
        "\U0010ffff",
        "\u200b\u200b",
        " \t\n",
    ],
)
def test_readable_refuses_controls_noncharacters_and_invisible_only_text(text: str) -> None:
    with pytest.raises(ValidationError):
        _Text(readable=text)


@pytest.mark.parametrize(
    "text", ["", "Lamp", "two\nlines\tand a tab\r\n", "naïve café ☕", "zero\u200bwidth inside", "🙂"]
)
def test_readable_keeps_ordinary_text(text: str) -> None:
    assert _Text(readable=text).readable == text
