"""Files the bot made go out as documents or photos; one Telegram would refuse (over the
upload limit) becomes a message saying where it is kept."""

from __future__ import annotations

from types import SimpleNamespace

from handlers.record_delivery import send_made


class Bot:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def send_message(self, chat_id: int, text: str) -> SimpleNamespace:
        self.calls.append(("message", text))
        return SimpleNamespace(message_id=1)

    async def send_photo(  # type: ignore[no-untyped-def]
        self, chat_id: int, photo, caption=None, read_timeout=None
    ) -> SimpleNamespace:
        self.calls.append(("photo", caption))
        self.read_timeout = read_timeout
        return SimpleNamespace(message_id=2)


def app(local: bool = False) -> SimpleNamespace:
    settings = SimpleNamespace(telegram_local_mode=local, file_read_timeout_seconds=20.0)
    return SimpleNamespace(bot=Bot(), bot_data={"rt": SimpleNamespace(settings=settings)})


async def test_a_chart_goes_out_as_a_photo(tmp_path) -> None:
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG small")
    a = app()
    row = SimpleNamespace(
        method="send_photo", chat_id=7, payload={"path": str(png), "caption": "📊"}
    )
    assert (await send_made(a, row)).message_id == 2
    assert a.bot.calls == [("photo", "📊")]
    assert a.bot.read_timeout == 20.0  # a file waits longer than a text for Telegram's answer


async def test_a_file_over_the_upload_limit_is_named_not_sent(tmp_path) -> None:
    big = tmp_path / "arsip.zip"
    with big.open("wb") as fh:
        fh.truncate(51 * 1024 * 1024)  # sparse: no real disk used
    row = SimpleNamespace(method="send_photo", chat_id=7, payload={"path": str(big)})
    cloud = app()
    await send_made(cloud, row)
    ((kind, text),) = cloud.bot.calls
    assert kind == "message" and "melebihi batas unggah" in text and str(big) in text
    local = app(local=True)  # a self-hosted Bot API takes up to 2000 MB
    await send_made(local, row)
    assert [k for k, _ in local.bot.calls] == ["photo"]
