"""What items and bookmarks have in common: rows owned by one user.

The model mixin, the repository, the service operations and the generic routes
live here once; each domain package declares only what is its own (columns,
validation, filters, and what a conflict means).
"""
