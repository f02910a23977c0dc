"""The auth service's own metrics (beside the kit's HTTP, pool, breaker and
rate-limit ones): what logins and tokens come to, for dashboards and alerts
(a spike of failed logins or of refresh-token re-use is an attack or a broken
client)."""

from prometheus_client import Counter

LOGINS = Counter(
    "auth_logins_total",
    "Password logins, by result: success, failure (wrong email or password), refused (a rate limit).",
    ["result"],
)
TOKENS_ISSUED = Counter("auth_tokens_issued_total", "Token pairs issued, by grant: password, refresh_token.", ["grant"])
REFRESH_TOKEN_REUSE = Counter(
    "auth_refresh_token_reuse_total",
    "Refresh tokens presented a second time; each revokes its login (a stolen token, or a client bug).",
)
PASSWORD_REHASHES = Counter(
    "auth_password_rehashes_total", "Stored password hashes upgraded at a login (from an older scheme or cost)."
)
