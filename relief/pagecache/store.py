"""The per-worker store of built answers, each kept with the drive state it was built from."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from flask import Flask

#: Drives × chapter pages × host names: a few hundred answers, a few MB at most.
MAX_ENTRIES = 512


class VersionedCache:
    """Key → (version, value), least recently used dropped past ``size``."""

    def __init__(self, size: int = MAX_ENTRIES):
        self.size = size
        self._items: OrderedDict[Hashable, tuple[Hashable, Any]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, version: Hashable) -> Any | None:
        found = self._items.get(key)
        if found is None or found[0] != version:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return found[1]

    def put(self, key: Hashable, version: Hashable, value: Any) -> None:
        self._items[key] = (version, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def of(app: Flask) -> VersionedCache:
    """The app's store. One per app (and so per worker): tests run apps on different
    databases side by side."""
    return app.extensions.setdefault("relief.responses", VersionedCache())
