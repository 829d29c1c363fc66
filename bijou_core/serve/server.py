"""Running the API with uvicorn: in the foreground (``bijou serve``) or in a background thread."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

# How long an idle connection stays open: longer than the idle expiry of clients' connection pools
# (httpx, and OpenAI's client on it: 5 s, uvicorn's own default too), so that a client never sends
# a request on a connection the server is closing at that moment ("server disconnected").
KEEP_ALIVE_S = 30


def run_server(app: Any, host: str, port: int) -> None:
    """Serve ``app`` until interrupted."""
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_keep_alive=KEEP_ALIVE_S)


class BackgroundServer:
    """``app`` served by uvicorn in a daemon thread, on an ephemeral port by default (tests,
    benchmarks, an app that embeds the server)::

        with BackgroundServer(create_app(service)) as server:
            OpenAI(base_url=f"{server.url}/v1", api_key="none")
    """

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, timeout: float = 30.0):
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="off", timeout_keep_alive=KEEP_ALIVE_S
        )
        self.server = uvicorn.Server(config)
        self.host, self.timeout = host, timeout
        self.thread = threading.Thread(target=self.server.run, name="bijou-serve", daemon=True)
        self.url = ""

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + self.timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.host}:{port}"
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(self.timeout)
