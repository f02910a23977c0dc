import pytest

from auth_service.users.identities import (
    MAX_USERNAME_KEY_LENGTH,
    IdentityRefused,
    email_key,
    username_key,
)

# Look-alikes are spelt with escapes: the point is that they do not look different.
FULLWIDTH_ALICE = "\uff21\uff4c\uff49\uff43\uff45"  # Alice in full-width letters
CYRILLIC_A = "\u0430"
ACUTE = "\u0301"  # COMBINING ACUTE ACCENT


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("alice", "alice"),
        ("ALICE", "alice"),
        ("Alice", "alice"),
        (FULLWIDTH_ALICE, "alice"),
        ("\uff71\uff98\uff7d", "\u30a2\u30ea\u30b9"),  # half-width katakana: its plain form
        ("alic\u00e9", "alic\u00e9"),  # precomposed...
        ("alice" + ACUTE, "alic\u00e9"),  # ...and decomposed: one name
        ("ALIC\u00c9", "alic\u00e9"),
        ("ada.l", "ada.l"),
        ("a_b-c", "a_b-c"),
        ("\u1e9etra\u00dfe", "\u00dftra\u00dfe"),  # lower-cased, not case-folded: no "ss"
        ("\u0130stanbul", "i\u0307stanbul"),  # lower-casing may leave a mark nobody typed
        ("\u0430\u043b\u0438\u0441\u0430", "\u0430\u043b\u0438\u0441\u0430"),  # all Cyrillic
        ("\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac", "\u03b5\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac"),
        ("\u05e9\u05dc\u05d5\u05dd", "\u05e9\u05dc\u05d5\u05dd"),  # right-to-left alone
        ("\u0928\u092e\u0938\u094d\u0924\u0947", "\u0928\u092e\u0938\u094d\u0924\u0947"),  # Devanagari signs stay
        ("\u6771\u4eacAlice", "\u6771\u4eacalice"),  # Han with Latin
        ("\u3068\u3046\u304d\u3087\u3046\u30c8\u30fc\u30ad\u30e7\u30fc\u6771\u4eac", None),  # kana with Han
        ("\uc11c\uc6b8alice", "\uc11c\uc6b8alice"),  # Hangul with Latin
        ("user2024", "user2024"),
    ],
)
def test_username_keys_fold_case_width_and_normalisation(spelling: str, key: str | None) -> None:
    assert username_key(spelling) == (key if key is not None else spelling)


@pytest.mark.parametrize(
    ("spelling", "reason"),
    [
        ("", "must not be empty"),
        ("a b", "U+0020 SPACE: a space"),
        ("\U0001f600", "U+1F600 GRINNING FACE: a symbol"),
        ("\ufb01le", "U+FB01 LATIN SMALL LIGATURE FI: a compatibility variant"),
        ("user\u200dname", "U+200D ZERO WIDTH JOINER"),
        ("x\u00a0y", "U+00A0 NO-BREAK SPACE"),
        (CYRILLIC_A + "lice", "one script, not mixed (Cyrillic, Latin)"),
        ("\u03b1bc", "one script, not mixed (Greek, Latin)"),
        ("\uc11c\uc6b8\u3068\u3046", "one script, not mixed (Hangul, Hiragana)"),
        ("al\u0336ice", "U+0336 COMBINING LONG STROKE OVERLAY: a mark that does not join its letter"),
        ("a" + ACUTE + ACUTE, "U+0301 COMBINING ACUTE ACCENT"),
        ("\u05e9\u05dc\u05d5\u05ddabc", "right-to-left and left-to-right"),
    ],
)
def test_usernames_the_rules_refuse_say_why(spelling: str, reason: str) -> None:
    with pytest.raises(IdentityRefused) as refused:
        username_key(spelling)
    assert reason in str(refused.value)


def test_refusals_are_value_errors_for_the_schemas() -> None:
    assert issubclass(IdentityRefused, ValueError)


def test_a_key_leaves_room_in_its_column_for_a_migrations_suffix() -> None:
    # U+0130 LATIN CAPITAL LETTER I WITH DOT ABOVE lower-cases to two characters.
    with pytest.raises(IdentityRefused, match="too long"):
        username_key("\u0130" * (MAX_USERNAME_KEY_LENGTH // 2 - 10))


@pytest.mark.parametrize("key", [email_key, username_key])
def test_megabytes_are_refused_before_any_work(key) -> None:
    # A login form's username is anything a client sends.
    with pytest.raises(IdentityRefused, match="too long"):
        key("\u00e9" * 1_000_000 + "@example.com")


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("alice@example.com", "alice@example.com"),
        ("Alice@Example.COM", "alice@example.com"),
        (FULLWIDTH_ALICE + "@example.com", "alice@example.com"),
        ("alice@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.com", "alice@example.com"),  # full-width domain
        ("alic\u00e9@example.com", "alic\u00e9@example.com"),
        ("alice" + ACUTE + "@example.com", "alic\u00e9@example.com"),
        ("alice@b\u00fccher.de", "alice@xn--bcher-kva.de"),  # the domain as its A-label
        ("ALICE@B\u00dcCHER.DE", "alice@xn--bcher-kva.de"),
        ("alice@xn--bcher-kva.de", "alice@xn--bcher-kva.de"),
        # A Cyrillic domain label beside the Latin top-level domain: each label has one script.
        ("\u0430\u043b\u0438\u0441\u0430@\u043f\u0440\u0438\u043c\u0435\u0440.com", None),
        ("a+tag#x@example.com", "a+tag#x@example.com"),
    ],
)
def test_email_keys_fold_the_local_part_like_a_username_and_the_domain_by_idna(spelling: str, key: str | None) -> None:
    if key is None:
        assert email_key(spelling).endswith(".com")
    else:
        assert email_key(spelling) == key


@pytest.mark.parametrize(
    ("spelling", "reason"),
    [
        ("not-an-email", "@-sign"),
        (CYRILLIC_A + "lice@example.com", "one script, not mixed (Cyrillic, Latin)"),
        ("alice@ex" + CYRILLIC_A + "mple.com", "one script, not mixed (Cyrillic, Latin)"),
        ("\U0001f600@example.com", "a symbol"),
        ("\ufb01le@example.com", "compatibility variant"),
        ("al\u0336ice@example.com", "a mark that does not join its letter"),
    ],
)
def test_emails_the_rules_refuse_say_why(spelling: str, reason: str) -> None:
    with pytest.raises(IdentityRefused) as refused:
        email_key(spelling)
    assert reason in str(refused.value)


def test_no_computed_key_looks_like_a_migrated_one() -> None:
    # The identity migration gives the accounts it re-keyed `<key>#<id>`:
    # a `#` after an email key's `@`, or anywhere in a username key.
    assert "#" not in email_key("a#b@example.com").rpartition("@")[2]
    with pytest.raises(IdentityRefused, match="must not contain '#'"):
        username_key("alice#1")
