"""Fields one package contributes to another package's GraphQL type, composed at the root.

A domain that must not import another one (parties never imports chat) still shows the other's
fields on its type (`Party.messages`): the other domain declares them on a `@strawberry.type`
of its own (a *contribution*, e.g. `chat.party_fields.ChatPartyFields`), and the composition root
(`schema.py`) appends them to the target type before the schema is built. A contributed
resolver reads its parent through strawberry's `root` argument, like any field resolver.
"""

from __future__ import annotations

import copy

from strawberry.annotation import StrawberryAnnotation
from strawberry.types.base import get_object_definition
from strawberry.types.union import StrawberryUnion


class FieldClash(Exception):
    """Two contributions (or a contribution and the target) define the same field."""


def extend_type(target: type, *contributions: type) -> None:
    """Append copies of each contribution's fields to `target`'s, in order.

    Idempotent: a field this contribution already added is skipped, so importing the
    composition root twice (or building two schemas) changes nothing. Any other field of the
    same name raises `FieldClash`: a contribution never replaces a field silently.
    """
    definition = get_object_definition(target, strict=True)
    for contribution in contributions:
        for field in get_object_definition(contribution, strict=True).fields:
            existing = next((f for f in definition.fields if f.name == field.name), None)
            if existing is not None and existing.origin is contribution:
                continue
            if existing is not None:
                raise FieldClash(
                    f"{contribution.__qualname__}.{field.python_name} clashes with a field of "
                    f"{definition.name} (from {getattr(existing.origin, '__qualname__', '?')})"
                )
            definition.fields.append(copy.copy(field))


def widen_union(owner: type, field_name: str, *members: type) -> None:
    """Add `members` to the union type of `owner.<field_name>` (its name stays): a stream whose
    domain must not import another one still carries the other's items (`notificationEvents`
    and billing's `EntitlementsChanged`). Idempotent: a member already there is skipped."""
    definition = get_object_definition(owner, strict=True)
    field = next(f for f in definition.fields if f.python_name == field_name)
    union = field.type
    if not isinstance(union, StrawberryUnion):
        raise TypeError(f"{definition.name}.{field.name} is not a union")
    known = set(union.types)
    extra = tuple(StrawberryAnnotation(member) for member in members if member not in known)
    union.type_annotations = (*union.type_annotations, *extra)
