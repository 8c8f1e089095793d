"""The pacer's arithmetic, on a virtual clock: Telegram's limits as the fake Bot API applies
them (30 calls in any second per bot; per chat a bucket of 3 refilled at 1/s)."""

from __future__ import annotations

from handlers.pacing import Pacer


def send_all(pacer: Pacer, chats: list[str]) -> list[float]:
    """Each message as soon as the pacer allows, in order; returns the send times."""
    now, times = 0.0, []
    for chat in chats:
        now = pacer.ready(chat, now)
        pacer.take(chat, now)
        pacer.done(chat, now)
        times.append(now)
    return times


def test_one_person_alone_is_never_held_up() -> None:
    pacer = Pacer()
    assert send_all(pacer, ["a", "a", "a"]) == [0.0, 0.0, 0.0]  # a short burst goes at once
    assert pacer.ready("b", 0.0) == 0.0  # and nobody else waits for it


def test_a_bulk_send_stays_under_30_a_second_and_near_it() -> None:
    times = send_all(Pacer(), [f"chat{i}" for i in range(1000)])
    for i, t in enumerate(times):  # the fake's sliding window: at most 30 in (t - 1 s, t]
        assert sum(1 for u in times[: i + 1] if u > t - 1.0) <= 30
    assert 999 / (times[-1] - times[0]) >= 28.0


def test_one_chat_gets_its_burst_then_one_a_second() -> None:
    times = send_all(Pacer(), ["a"] * 10)
    tokens, at = 3.0, 0.0  # the fake's bucket for the chat
    for t in times:
        tokens = min(3.0, tokens + (t - at))
        assert tokens >= 1.0
        tokens, at = tokens - 1.0, t
    assert times[3] > 1.0 and times[-1] < 9.0


def test_a_message_counts_from_when_its_call_returns() -> None:
    pacer = Pacer()
    for i in range(30):
        pacer.take(f"c{i}", 0.0)
    assert pacer.bot_ready(0.0) == float("inf")  # all in flight: wait for one to return
    for i in range(30):
        pacer.done(f"c{i}", 0.4)
    assert pacer.bot_ready(0.5) == 0.4 + pacer.window


def test_after_a_429_the_chat_waits_as_told() -> None:
    pacer = Pacer()
    pacer.hold("a", until=5.0, now=0.0)
    assert pacer.ready("a", 0.0) >= 5.0
    assert pacer.ready("b", 0.0) == 0.0
