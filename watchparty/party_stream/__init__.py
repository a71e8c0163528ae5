"""The GraphQL side of the party stream: the `partyEvents` subscription, `PartyEvent` and its
union (every domain's members, listed in `registry`), and the per-process rendering cache.

The events themselves are plain (`watchparty.events`, each domain's `events.py`); this package
is the only place that knows both GraphQL and every domain carried on a party's stream.
"""
