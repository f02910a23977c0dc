"""The resource service: each user's items and bookmarks, behind bearer tokens
the auth service signs."""
