"""A small round-robin HTTP reverse proxy in front of several Rasa servers (local scale-out).

Each request goes to the next backend in turn, so consecutive messages of one conversation land
on different replicas: that only works when the replicas share Redis for trackers and locks. A
backend that refuses the connection is skipped for that request. In production use a real load
balancer (see README, "Production topology"); this one is for tests and trying scale-out locally.

    python -m scripts.proxy --port 8080 --backend http://127.0.0.1:5005 --backend http://127.0.0.1:5006
"""

from __future__ import annotations

import argparse
import itertools
import logging

import aiohttp
from aiohttp import web

logger = logging.getLogger(__name__)
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}


def make_app(backends: list[str], timeout_s: float = 120) -> web.Application:
    """The proxy application; ``backends`` are base URLs like ``http://127.0.0.1:5005``."""
    turn = itertools.cycle(range(len(backends)))
    app = web.Application(client_max_size=8 * 1024 * 1024)
    counts = [0] * len(backends)

    async def session_ctx(app: web.Application):  # type: ignore[no-untyped-def]
        app["session"] = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=timeout_s), connector=aiohttp.TCPConnector(limit=0)
        )
        yield
        await app["session"].close()

    async def stats(_: web.Request) -> web.Response:
        return web.json_response({"backends": backends, "requests": counts})

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        first = next(turn)
        for attempt in range(len(backends)):
            index = (first + attempt) % len(backends)
            url = backends[index] + request.rel_url.path_qs
            try:
                async with app["session"].request(request.method, url, data=body, headers=headers) as resp:
                    payload = await resp.read()
                    counts[index] += 1
                    out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_BY_HOP}
                    return web.Response(status=resp.status, body=payload, headers=out_headers)
            except aiohttp.ClientConnectionError as exc:
                logger.warning("backend %s unreachable: %s", backends[index], exc)
        return web.json_response({"error": "no backend reachable"}, status=502)

    app.cleanup_ctx.append(session_ctx)
    app.router.add_get("/_proxy/stats", stats)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--backend", action="append", required=True, help="base URL of a Rasa server (repeat)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    web.run_app(make_app([b.rstrip("/") for b in args.backend]), host="127.0.0.1", port=args.port, print=None)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
