"""A report snapshot (frozen dataclasses of plain values) as JSON and back: how a closed month
keeps its report.

Only what a snapshot may hold is accepted — str, int, bool, None, dates, aware datetimes,
tuples and nested snapshot dataclasses — so what comes back is equal to what went in.
"""

from __future__ import annotations

import json
import types
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

T = TypeVar("T")

#: Written with every snapshot; a later change to a snapshot's shape reads older ones by it.
VERSION = 1


def to_json(snapshot: Any) -> str:
    """The snapshot as JSON text (keys sorted, so the same snapshot gives the same text)."""
    return json.dumps({"version": VERSION, "snapshot": _plain(snapshot)}, sort_keys=True)


def from_json(kind: type[T], text: str) -> T:
    """The ``kind`` snapshot that :func:`to_json` wrote."""
    document = json.loads(text)
    if document.get("version") != VERSION:
        raise ValueError(f"a snapshot of version {document.get('version')!r} is not readable")
    return _typed(kind, document["snapshot"])


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {part.name: _plain(getattr(value, part.name)) for part in fields(value)}
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("a snapshot's moments are aware (UTC)")
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, str | int):  # bool is an int
        return value
    raise TypeError(f"a snapshot holds plain values, not {type(value).__name__}")


def _typed(kind: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = get_origin(kind)
    if origin in (Union, types.UnionType):
        (inner,) = [arg for arg in get_args(kind) if arg is not type(None)]
        return _typed(inner, value)
    if origin is tuple:
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(args[0], item) for item in value)
        return tuple(_typed(arg, item) for arg, item in zip(args, value, strict=True))
    if isinstance(kind, type) and is_dataclass(kind):
        hints = get_type_hints(kind)
        # A field added after a snapshot was kept is missing from it: it takes its default.
        values = {
            part.name: _typed(hints[part.name], value[part.name])
            for part in fields(kind)
            if part.name in value
        }
        return kind(**values)
    if kind is datetime:
        return datetime.fromisoformat(value)
    if kind is date:
        return date.fromisoformat(value)
    return value
