import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, Response, status

from auth_service.deps import SessionsDep
from auth_service.sessions.schemas import SessionRead
from servicekit.auth import ClaimsDep, CurrentUserId
from servicekit.errors import NotFound, Unauthorized, error_responses

router = APIRouter(tags=["sessions"])


@router.get("/auth/sessions", responses=error_responses(Unauthorized))
async def list_sessions(user_id: CurrentUserId, claims: ClaimsDep, sessions: SessionsDep) -> list[SessionRead]:
    """The caller's active logins, most recently used first; `current` marks
    the one this access token belongs to."""
    active = await sessions.list_active(user_id, datetime.now(UTC))
    return [
        SessionRead.model_validate(login).model_copy(update={"current": str(login.id) == claims.session_id})
        for login in active
    ]


@router.delete("/auth/sessions", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(Unauthorized))
async def sign_out_everywhere(user_id: CurrentUserId, sessions: SessionsDep) -> Response:
    """End every login of the account, this one included: their refresh
    tokens stop working at once, their access tokens within seconds."""
    await sessions.revoke(user_id, datetime.now(UTC))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/auth/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(Unauthorized, NotFound),
)
async def end_session(session_id: uuid.UUID, user_id: CurrentUserId, sessions: SessionsDep) -> Response:
    """End one of the caller's logins (404 if it is not theirs or has ended)."""
    if not await sessions.revoke(user_id, datetime.now(UTC), only=session_id):
        raise NotFound("No active session of yours has this id.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
