"""Comparison keys for identities: when two spellings name the same account.

Accounts are compared by key, never by the text a user typed, so look-alike
spellings cannot make a second account or log into the wrong one.

- `username_key(name)`: the name under the PRECIS `UsernameCaseMapped`
  profile (RFC 8265 §3.3, precis-i18n): full- and half-width forms mapped to
  their plain forms, lower-cased, NFC. `ALICE`, `alice` in full-width
  letters (U+FF41...) and `alice` share a key; so do `é` and `e` + U+0301
  COMBINING ACUTE ACCENT.
- `email_key(address)`: the address must be one email-validator accepts (as
  at registration); the part before the `@` goes through the same rules as
  a username, the domain becomes its IDNA A-label (ASCII, lower-case), so
  a full-width `Alice@Bücher.de` and `alice@xn--bcher-kva.de` share a key.

Both raise `IdentityRefused` (a `ValueError`, so a schema turns it into a
422 naming the field) for what the profile refuses - spaces, symbols and
emoji, compatibility forms (`ﬁ`), invisible characters out of context,
right-to-left text that breaks RFC 5893's Bidi Rule, the empty string - and
for two look-alike rules PRECIS leaves to the application:

- **One script per identifier** (each domain label counts on its own):
  Latin `alice` with a Cyrillic `a` (U+0430) is refused, as is Greek mixed
  with Latin. PRECIS maps case and width but never unifies across scripts, and a mixed
  name is the usual spoof. Latin may mix with the scripts written together
  with it in East Asia (Han with Hiragana and Katakana, with Bopomofo, or
  with Hangul), as UTS 39's "highly restrictive" level allows. A
  character's script is the first word of its Unicode name (`CYRILLIC SMALL
  LETTER A`, with the few exceptions `_SCRIPT_OF_NAME` lists), which the
  standard library has; digits, ASCII punctuation and marks any script may
  carry belong to none.
- **No mark of no one script that NFC cannot fold into its letter**
  (`alice` + U+0336 COMBINING LONG STROKE OVERLAY, stacked accents): such
  marks draw over a name without making it read differently. Script-specific
  marks (Devanagari vowel signs, Hebrew points, Arabic harakat) stay allowed;
  the price is that the few orthographies needing a mark with no
  precomposed form (Yoruba `ẹ́`) cannot spell every name.

Not unified, and so distinct accounts: whole-script confusables (`ape`
spelt in Cyrillic letters beside Latin `ape`), which only UTS 39's
confusables data could tell.

Keys depend on precis-i18n's version and on Python's Unicode tables (fixed
by its minor version: 3.11 has Unicode 14). Both are pinned - pyproject.toml
and the image's `python:3.11` - and an upgrade that changes a key takes a
migration recomputing the stored keys.
"""

import unicodedata

import precis_i18n
from email_validator import EmailNotValidError, validate_email

# Column widths (users.email_key, users.username_key). A key can grow past
# what was typed (case mapping, NFC, the A-label of a domain).
MAX_EMAIL_KEY_LENGTH = 400
MAX_USERNAME_KEY_LENGTH = 200
# Marks the keys the identity migration gave accounts it could not give
# their own (`<key>#<user id>`, README "Identity keys"): never in a username
# key, never after the `@` of an email key (domains hold no `#`), so no key
# computed here is one of them. Computed keys leave room for the suffix.
RESERVED = "#"
_SUFFIX_ROOM = len(RESERVED) + 36  # a UUID's text

_PROFILE = precis_i18n.get_profile("UsernameCaseMapped")

# Scripts that may share an identifier with each other (UTS 39 §5.2).
_COMPATIBLE_SCRIPTS = (
    frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "HAN", "BOPOMOFO"}),
    frozenset({"LATIN", "HAN", "HANGUL"}),
)
# Unicode names (of the letters, marks and digits PRECIS allows) whose
# first word is not the character's script; None: of no one script.
_SCRIPT_OF_NAME: dict[str, str | None] = {
    "CJK": "HAN",
    "IDEOGRAPHIC": "HAN",
    "MASU": "HAN",
    "VIETNAMESE": "HAN",  # VIETNAMESE ALTERNATE READING MARK (for Han)
    "HENTAIGANA": "HIRAGANA",
    "KATAKANA-HIRAGANA": "KATAKANA",
    "ARABIC-INDIC": "ARABIC",
    "EXTENDED": "ARABIC",  # EXTENDED ARABIC-INDIC DIGIT ...
    "TURNED": "LATIN",
    "ROMAN": "LATIN",
    "": "TANGUT",  # the ideographs Python's name table leaves unnamed
    "COMBINING": None,  # marks any script may carry
    "MUSICAL": None,
    "PHAISTOS": None,
    "VEDIC": None,
    "ZNAMENNY": None,
    "MODIFIER": None,  # MODIFIER LETTER PRIME and the like
    "CARON": None,
    "VERTICAL": None,
}

# What precis-i18n reports per character, said for the API's users.
_REFUSALS = {
    "has_compat": "a compatibility variant of another character",
    "symbols": "a symbol",
    "punctuation": "punctuation other than ASCII's",
    "spaces": "a space",
    "controls": "a control character",
    "unassigned": "not an assigned character",
    "precis_ignorable_properties": "an invisible character",
    "old_hangul_jamo": "an archaic Hangul letter",
    "other_letter_digits": "not a letter or digit identifiers may use",
    "other": "not allowed in identifiers",
}


class IdentityRefused(ValueError):
    """An identifier no account can have under these rules; the message is for the API's users."""


def username_key(username: str) -> str:
    """The key `username` is compared by; `IdentityRefused` if it cannot be one."""
    _bounded(username, MAX_USERNAME_KEY_LENGTH)  # before any work: a login form takes megabytes
    if RESERVED in username:
        raise IdentityRefused(f"must not contain {RESERVED!r}")
    return _bounded(_enforce(username), MAX_USERNAME_KEY_LENGTH - _SUFFIX_ROOM)


def email_key(address: str) -> str:
    """The key `address` is compared by; `IdentityRefused` if it cannot be one."""
    _bounded(address, MAX_EMAIL_KEY_LENGTH)
    try:
        parts = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise IdentityRefused(str(exc)) from None
    local = _enforce(parts.local_part)
    for label in parts.domain.split("."):
        _one_script(label)
    return _bounded(f"{local}@{parts.ascii_domain.lower()}", MAX_EMAIL_KEY_LENGTH - _SUFFIX_ROOM)


def _enforce(value: str) -> str:
    try:
        key = _PROFILE.enforce(value)
    except UnicodeEncodeError as exc:
        raise IdentityRefused(_explain(exc)) from None
    _one_script(key)
    # In the text as written, not the key: lower-casing `İ` leaves a mark
    # (`i` + U+0307) that nobody typed.
    for char in unicodedata.normalize("NFC", value):
        if unicodedata.category(char) in ("Mn", "Me") and _script(char) is None:
            raise IdentityRefused(f"must not contain {_describe(char)}: a mark that does not join its letter")
    return key


def _explain(exc: UnicodeEncodeError) -> str:
    kind = exc.reason.removeprefix("DISALLOWED/")
    if kind == "empty":
        return "must not be empty"
    if kind == "bidi_rule":
        return "mixes right-to-left and left-to-right text in a way that displays misleadingly (RFC 5893)"
    if kind == "not_idempotent":
        return "does not have a stable canonical form (RFC 8265)"
    char = exc.object[exc.start]
    reason = _REFUSALS.get(kind, "allowed only beside certain other characters")
    return f"must not contain {_describe(char)}: {reason}"


def _one_script(value: str) -> None:
    scripts = {script for char in value if (script := _script(char)) is not None}
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _COMPATIBLE_SCRIPTS):
        names = ", ".join(sorted(script.title() for script in scripts))
        raise IdentityRefused(f"must be written in one script, not mixed ({names})")


def _script(char: str) -> str | None:
    if char.isascii():
        return "LATIN" if char.isalpha() else None
    if unicodedata.category(char)[0] not in "LMN":
        return None
    word = unicodedata.name(char, "").partition(" ")[0]
    return _SCRIPT_OF_NAME.get(word, word)


def _describe(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, '(unnamed)')}"


def _bounded(key: str, limit: int) -> str:
    if len(key) > limit:
        raise IdentityRefused("is too long")
    return key
