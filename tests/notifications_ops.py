"""Helpers for the notification tests: a producer stand-in (the service's `notify`, as the
issue's later producers will call it), the GraphQL operations, and a `notificationEvents`
client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tests.parties_ops import Person
from tests.support import Api, GraphQLSocket, graphql_socket
from watchparty.notifications import service
from watchparty.notifications.models import NotificationKind

WAIT = 15.0

NODE = """id kind title body actionPath actor { id displayName } actorCount subjectType subjectId
createdAt updatedAt seenAt readAt expiresAt"""

LIST = f"""query($first: Int, $after: String, $unreadOnly: Boolean! = false) {{
  notifications(first: $first, after: $after, unreadOnly: $unreadOnly) {{
    totalCount pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }}
    edges {{ cursor node {{ {NODE} }} }} }} }}"""

COUNT = "query { unreadNotificationCount }"

MARK_READ = """mutation($input: MarkNotificationsReadInput!) {
  markNotificationsRead(input: $input) {
  __typename ... on MarkNotificationsReadPayload { ids all unreadCount unseenCount }
  ... on UserError { code message field } } }"""

MARK_SEEN = """mutation { markNotificationsSeen { __typename
  ... on NotificationCountsPayload { unreadCount unseenCount }
  ... on UserError { code message } } }"""

DELETE = """mutation($id: ID!) { deleteNotification(input: {id: $id}) { __typename
  ... on DeleteNotificationPayload { deletedId unreadCount unseenCount }
  ... on UserError { code message field } } }"""

CLEAR = """mutation { clearNotifications { __typename
  ... on ClearNotificationsPayload { deletedCount } ... on UserError { code message } } }"""

EVENTS = """subscription($after: String) { notificationEvents(after: $after) {
  cursor occurredAt resync event { __typename
    ... on NotificationSnapshot { unreadCount unseenCount }
    ... on NotificationAdded { notification { id title actorCount } }
    ... on NotificationUpdated { notification { id title actorCount } }
    ... on NotificationsRead { ids all unreadCount unseenCount }
    ... on NotificationsDeleted { ids all unreadCount unseenCount }
    ... on UnreadCountChanged { unreadCount unseenCount } } } }"""


async def notify(
    api: Api,
    recipients: list[Person],
    kind: str = "REPLY",
    *,
    actor: Person | None = None,
    group_key: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    async with api.state.unit_of_work() as uow:
        await service.notify(
            uow,
            [uuid.UUID(r.id) for r in recipients],
            NotificationKind(kind),
            actor_id=None if actor is None else uuid.UUID(actor.id),
            data=data if data is not None else {"partyId": "p1", "excerpt": "Nice scene!"},
            group_key=group_key,
        )


async def feed(api: Api, who: Person | None, **variables: Any) -> Any:
    return (await api.gql(LIST, variables, token=None if who is None else who.token)).data[
        "notifications"
    ]


async def entries(api: Api, who: Person) -> list[tuple[Any, ...]]:
    """(kind, title, body, actionPath, actor's name, actorCount, subject), newest first."""
    page = await feed(api, who)
    return [
        (
            n["kind"],
            n["title"],
            n["body"],
            n["actionPath"],
            None if n["actor"] is None else n["actor"]["displayName"],
            n["actorCount"],
            (n["subjectType"], n["subjectId"]),
        )
        for n in (edge["node"] for edge in page["edges"])
    ]


async def mutate(api: Api, query: str, who: Person | None, **variables: Any) -> Any:
    data = (await api.gql(query, variables, token=None if who is None else who.token)).data
    (result,) = data.values()
    return result


class Stream:
    def __init__(self, socket: GraphQLSocket, op_id: str) -> None:
        self.socket = socket
        self.op_id = op_id

    async def message(self, timeout: float = WAIT) -> dict[str, Any]:
        while True:
            message = await self.socket.receive(timeout)
            if message.get("id") == self.op_id:
                return message

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        message = await self.message(timeout)
        assert message["type"] == "next" and message["payload"].get("data"), message
        item: dict[str, Any] = message["payload"]["data"]["notificationEvents"]
        return item

    async def events(self, count: int) -> list[dict[str, Any]]:
        return [(await self.next())["event"] for _ in range(count)]


@asynccontextmanager
async def stream(
    base_url: str, who: Person | None, after: str | None = None
) -> AsyncIterator[Stream]:
    async with graphql_socket(base_url) as socket:
        ack = await socket.init({"authorization": f"Bearer {who.token}"} if who else {})
        assert ack["type"] == "connection_ack", ack
        yield Stream(socket, await socket.subscribe(EVENTS, {"after": after}))
