"""The web server of ``intake serve``: uvicorn on ``[web] host/port`` around the review app."""

from __future__ import annotations

import uvicorn

from intake.runtime import Runtime
from intake.web.app import create_app


def build_server(rt: Runtime) -> uvicorn.Server:
    """A uvicorn server ready to ``run()`` (in a thread) or ``serve()`` (in an event loop).

    Run in a thread, uvicorn leaves the signals to the main thread (the
    scheduler); set ``server.should_exit = True`` to stop it.
    """
    config = uvicorn.Config(
        create_app(rt),
        host=rt.settings.web.host,
        port=rt.settings.web.port,
        log_level="info",
        access_log=False,
        lifespan="off",
        # Behind a TLS proxy on the same machine the client address and scheme come from its headers.
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        server_header=False,
    )
    return uvicorn.Server(config)
