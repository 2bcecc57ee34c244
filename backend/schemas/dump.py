"""Compiled dumpers: exactly what `Schema.dump` returns, without its per-field machinery.

Marshmallow looks up, dispatches and formats every field of every object on each dump; a page
of 20 tasks is 220 such calls. `compile_dumper` does that lookup once per schema and keeps, per
field, either nothing (strings, integers, booleans: the value is already its JSON form) or the
field's own `_serialize`, so the output is the schema's own. Schemas with hooks, `data_key`s or
other field kinds are dumped by marshmallow itself. `tests/test_dump.py` checks the two agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from marshmallow import Schema, fields, missing
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Dumper = Callable[[Any], Any]
Converter = Callable[[Any], Any]
# Fields whose serialization of a value of the right type is the value itself.
PLAIN_SERIALIZERS = frozenset(
    {fields.String._serialize, fields.Number._serialize, fields.Boolean._serialize}
)
_cache: dict[int, tuple[Schema, Dumper]] = {}


def dumper_for(schema: Schema) -> Dumper:
    """Return the compiled dumper of `schema` (compiled once, then cached)."""
    cached = _cache.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, compile_dumper(schema))
        _cache[id(schema)] = cached
    return cached[1]


def compile_dumper(schema: Schema) -> Dumper:
    """Build a function that dumps one object as `schema.dump` would."""
    if schema.many or _has_dump_hooks(schema):
        return schema.dump
    steps: list[tuple[str, str, Converter | None]] = []
    try:
        for name, field in schema.dump_fields.items():
            if field.data_key not in (None, name):
                raise Unsupported(name)
            steps.append((name, field.attribute or name, _converter(field, name)))
    except Unsupported:
        return schema.dump

    def dump(obj: Any) -> dict[str, Any]:
        """Dump `obj` with the compiled steps."""
        get = obj.get if isinstance(obj, Mapping) else partial(getattr, obj)
        data: dict[str, Any] = {}
        for key, attribute, convert in steps:
            value = get(attribute, missing)
            if value is missing:
                continue
            data[key] = value if convert is None or value is None else convert(value)
        return data

    return dump


def _has_dump_hooks(schema: Schema) -> bool:
    """Tell whether `schema` has `pre_dump` or `post_dump` hooks.

    `Schema._hooks` is a defaultdict that gains an empty list per tag as soon as the schema
    loads anything, so only non-empty dump tags count (`get` does not add one).
    """
    return any(schema._hooks.get(tag) for tag in (PRE_DUMP, POST_DUMP))


class Unsupported(Exception):
    """A field this module does not compile: the schema is dumped by marshmallow."""


def _converter(field: fields.Field, name: str) -> Converter | None:
    """Return how to convert a field's (non-null) value; None means it is used as it is."""
    if isinstance(field, fields.List) and isinstance(field.inner, fields.Nested):
        inner = compile_dumper(field.inner.schema)
        return lambda values: [inner(value) for value in values]
    if isinstance(field, fields.Nested | fields.List | fields.Dict | fields.Method):
        raise Unsupported(name)
    if type(field)._serialize in PLAIN_SERIALIZERS:
        return None
    return lambda value: field._serialize(value, name, None)
