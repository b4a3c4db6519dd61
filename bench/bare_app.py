"""Baseline for bench/api_get.py: a bare Starlette app on uvicorn returning a fixed JSON body."""

from __future__ import annotations

import sys
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route


def main() -> None:
    port, body_path = int(sys.argv[1]), sys.argv[2]
    body = Path(body_path).read_bytes()

    async def fixed(request: object) -> Response:
        return Response(body, media_type="application/json")

    app = Starlette(routes=[Route("/{path:path}", fixed, methods=["GET"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
