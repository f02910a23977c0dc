"""The auth service: registers users, issues and rotates tokens, publishes JWKS."""
