"""Field validators every service's schemas share."""

import unicodedata

from pydantic import AfterValidator


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate (legal in JSON's
    # \u escapes) cannot be encoded: refuse both here, as a 422, rather than
    # as a database (or hashing) error.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text") from None
    return value


Storable = AfterValidator(_storable)
"""Text that PostgreSQL can store and UTF-8 can encode."""

# RFC 9839 "problematic code points": the C0 and C1 controls (tab, line feed
# and carriage return excepted), DEL, and the noncharacters.
_PROBLEMATIC = {chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), *range(0x7F, 0xA0))}
_PROBLEMATIC |= {chr(c) for c in range(0xFDD0, 0xFDF0)}
_PROBLEMATIC |= {chr(plane * 0x10000 + last) for plane in range(17) for last in (0xFFFE, 0xFFFF)}


def _readable(value: str) -> str:
    value = _storable(value)
    if any(char in _PROBLEMATIC for char in value):
        raise ValueError("must not contain control characters or noncharacters")
    if value and not any(
        char.isprintable() and not char.isspace() and unicodedata.category(char) != "Cf" for char in value
    ):
        raise ValueError("must contain something visible")
    return value


Readable = AfterValidator(_readable)
"""Text people read (titles, descriptions): storable, without the RFC 9839
problematic code points, and not made of invisible characters only."""
