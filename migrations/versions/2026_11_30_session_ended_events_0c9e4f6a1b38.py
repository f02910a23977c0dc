"""session_ended events: the database announces every session that ends

Revision ID: 0c9e4f6a1b38
Revises: d7a3e5b81c02
Create Date: 2026-11-30 09:10:00+00:00

A trigger on `sessions` NOTIFYs `session_ended` with the session's id when
it is revoked, its end is brought forward, or it is deleted (with its
account, by the cascade). Workers LISTEN there and forget what they
remembered of it at once (servicekit.sessions): no code path that ends a
session has to remember to tell them. The notification is sent when the
transaction commits, never for one rolled back.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0c9e4f6a1b38"
down_revision: str | None = "d7a3e5b81c02"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# servicekit.sessions.SESSION_ENDED_CHANNEL (tests/kit/test_sessions.py
# proves they agree: a revocation reaches a listener).
CHANNEL = "session_ended"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION announce_session_ended() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', OLD.id::text);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER sessions_announce_ended AFTER UPDATE OF revoked_at, expires_at ON sessions
        FOR EACH ROW
        WHEN (NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.expires_at < OLD.expires_at)
        EXECUTE FUNCTION announce_session_ended()
        """
    )
    op.execute(
        """
        CREATE TRIGGER sessions_announce_deleted AFTER DELETE ON sessions
        FOR EACH ROW EXECUTE FUNCTION announce_session_ended()
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER sessions_announce_deleted ON sessions")
    op.execute("DROP TRIGGER sessions_announce_ended ON sessions")
    op.execute("DROP FUNCTION announce_session_ended()")
