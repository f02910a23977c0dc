"""Entity tags and `If-Match` (RFC 9110 §8.8.3, §13.1.1).

Tags are strong and opaque: a digest of whatever identifies one version of a
resource (for a row: its id and version number). `If-Match` uses the strong
comparison, so a weak tag (`W/"..."`) never matches.
"""

import hashlib
import re
from typing import Annotated

from fastapi import Header

from servicekit.errors import PreconditionFailed

_ENTITY_TAG = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')

IfMatchHeader = Annotated[
    str | None,
    Header(
        description="Apply the change only if the resource still has this ETag (from a previous response); "
        "otherwise 412. `*` matches any current version."
    ),
]


def make_etag(*parts: object) -> str:
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=12).hexdigest()
    return f'"{digest}"'


def _strong_tags(header: str) -> set[str]:
    return {f'"{opaque}"' for weak, opaque in _ENTITY_TAG.findall(header) if not weak}


def names_tags(if_match: str | None) -> bool:
    """Whether `If-Match` asks for particular tags: it is neither absent nor
    `*` (which any current version satisfies)."""
    return if_match is not None and if_match.strip() != "*"


def check_if_match(if_match: str | None, current: str) -> None:
    """Raise 412 unless `If-Match` is absent, `*`, or lists `current`."""
    if names_tags(if_match) and current not in _strong_tags(if_match or ""):
        raise PreconditionFailed()
