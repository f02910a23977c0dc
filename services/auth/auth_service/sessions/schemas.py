import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime = Field(description="When it was started or last refreshed.")
    expires_at: datetime = Field(description="When it ends however often it is refreshed.")
    user_agent: str | None = Field(description="What the client called itself at sign-in.")
    current: bool = Field(default=False, description="Whether the access token of this request belongs to it.")
