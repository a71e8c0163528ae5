"""The floor: a bare Starlette WebSocket broadcast, served exactly like `watchparty serve`.

Same uvicorn settings as the real server (uvloop, `websockets-sansio`, no access log), the same
graphql-transport-ws handshake from the client's point of view (`connection_init` ->
`connection_ack`, `subscribe` id "1" -> a first `next` standing in for the snapshot), and then
in-process fan-out: `POST /publish` with a text body sends those exact bytes to every subscribed
socket, one `send_text` each, before answering. No parsing, no execution, no storage: whatever a
real server does on top of this is its overhead.

    python bench/raw_server.py --port 8100
"""

from __future__ import annotations

import argparse
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

SNAPSHOT = '{"id":"1","type":"next","payload":{"data":{"partyEvents":{"snapshot":true}}}}'

subscribers: set[WebSocket] = set()


async def graphql_socket(websocket: WebSocket) -> None:
    await websocket.accept(subprotocol="graphql-transport-ws")
    try:
        while True:
            message = json.loads(await websocket.receive_text())
            kind = message.get("type")
            if kind == "connection_init":
                await websocket.send_text('{"type":"connection_ack"}')
            elif kind == "ping":
                await websocket.send_text('{"type":"pong"}')
            elif kind == "subscribe":
                await websocket.send_text(SNAPSHOT)
                subscribers.add(websocket)
            elif kind == "complete":
                subscribers.discard(websocket)
    except WebSocketDisconnect:
        pass
    finally:
        subscribers.discard(websocket)


async def publish(request: Request) -> Response:
    text = (await request.body()).decode()
    for websocket in list(subscribers):
        try:
            await websocket.send_text(text)
        except Exception:  # a client that went away mid-broadcast
            subscribers.discard(websocket)
    return Response(status_code=204)


async def healthz(request: Request) -> Response:
    return Response(f'{{"subscribers": {len(subscribers)}}}', media_type="application/json")


app = Starlette(
    routes=[
        WebSocketRoute("/graphql", graphql_socket),
        Route("/publish", publish, methods=["POST"]),
        Route("/healthz", healthz),
    ]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
        ws_max_size=1_048_576,
    )


if __name__ == "__main__":
    main()
