"""What items and bookmarks have in common: rows owned by one user.

The model mixin, the repository, the service operations and the helpers the
routes share live here once; each domain package declares what is its own
(columns, validation, filters, what a conflict means) and writes its routes.
"""
