"""A Starlette app served by uvicorn in a thread of the test process, on a loopback port: the
stand-ins for outside services (FCM, Stripe) that a real client library calls over HTTP. A
thread of its own (with its own event loop), because some of those libraries make blocking
calls that must never wait on the test's loop."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.applications import Starlette

from tests.support import free_port


class LoopbackServer:
    def __init__(self, app: Starlette, name: str) -> None:
        self.app = app
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=name, daemon=True)

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the {self.name} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(10)
