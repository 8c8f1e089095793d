"""Serve the fake Bot API standalone: ``python -m tests.fakebotapi --port 8081``.

Point the bot at ``http://127.0.0.1:PORT/bot`` and play the user with curl, e.g.::

    curl -d '{"user_id": 1001, "first_name": "Budi", "text": "/start"}' \\
         http://127.0.0.1:8081/_fake/send
    curl http://127.0.0.1:8081/_fake/messages/1001
    curl -d '{"user_id": 1001, "label": "Setuju"}' http://127.0.0.1:8081/_fake/press
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from .server import FakeBotApi


async def _serve(args: argparse.Namespace) -> None:
    server = FakeBotApi(
        token=args.token,
        username=args.username,
        host=args.host,
        port=args.port,
        control_http=True,
    )
    await server.start()
    print(f"base_url      = {server.base_url}")
    print(f"base_file_url = {server.file_base_url}")
    print(f"control       = {server.url}/_fake/{{send,press,messages/<user_id>,calls}}")
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fakebotapi",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", default="123:ABC")
    parser.add_argument("--username", default="fake_sop_bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every API call")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
