"""A small per-worker cache of answers that hold for a while: what the
token verifier and the session check remember between requests."""

import time
from collections import OrderedDict
from typing import Generic, TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")


class ExpiringCache(Generic[Key, Value]):
    """At most `max_entries` answers, each until its own moment (monotonic);
    when full, the one stored longest ago goes first."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[Key, tuple[Value, float]] = OrderedDict()

    def get(self, key: Key) -> Value | None:
        """The answer for `key` while it holds; an expired one is dropped."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[1] > time.monotonic():
            return entry[0]
        del self._entries[key]
        return None

    def put(self, key: Key, value: Value, seconds: float) -> None:
        """Remember `value` for `seconds` (not at all when that is 0 or less)."""
        if seconds <= 0:
            return
        self._entries[key] = (value, time.monotonic() + seconds)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: Key) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries
