"""Field validators every service's schemas share."""

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
