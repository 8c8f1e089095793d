"""Tiny HTTP control surface for standalone demos (``python -m tests.fakebotapi``).

In-process tests use the Python API instead; this only exists so a human (or curl) can
play the user side against a bot running in another terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .server import FakeBotApi


def add_control_routes(app: web.Application, server: FakeBotApi) -> None:
    async def read(request: web.Request) -> dict[str, Any]:
        return await request.json() if request.can_read_body else {}

    def user_from(body: dict[str, Any]):
        return server.user(
            int(body["user_id"]),
            body.get("first_name", "User"),
            last_name=body.get("last_name"),
            username=body.get("username"),
        )

    async def send(request: web.Request) -> web.Response:
        """POST {"user_id", "text", "first_name"?} -> the Message the bot will receive."""
        body = await read(request)
        return web.json_response(await user_from(body).send(body["text"]))

    async def press(request: web.Request) -> web.Response:
        """POST {"user_id", "label", "message_id"?} -> {"callback_query_id"}."""
        body = await read(request)
        try:
            query_id = await user_from(body).press(body.get("message_id"), body["label"])
        except LookupError as exc:
            return web.json_response({"error": str(exc)}, status=404)
        return web.json_response({"callback_query_id": query_id})

    async def messages(request: web.Request) -> web.Response:
        """GET -> current state of the bot's messages in that chat."""
        user = server.user(int(request.match_info["user_id"]))
        return web.json_response(user.messages)

    async def calls(request: web.Request) -> web.Response:
        return web.json_response([[m, repr(p)] for m, p in server.calls[-100:]])

    app.router.add_post("/_fake/send", send)
    app.router.add_post("/_fake/press", press)
    app.router.add_get("/_fake/messages/{user_id}", messages)
    app.router.add_get("/_fake/calls", calls)
