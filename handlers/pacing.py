"""Sending at Telegram's pace: per bot and per chat, interactive before bulk.

Telegram answers 429 beyond about 30 messages a second per bot, and beyond about one a second
per chat after a short burst. A global queue (PTB's AIORateLimiter) makes one person alone
wait ~33 ms per message although nobody is near a limit; here a message waits only when its
own chat, or the bot as a whole, has used its allowance:

* `Pacer` is the arithmetic, pure (time is an argument): a sliding window of `per_bot`
  messages per `window` seconds for the bot, and a token bucket per chat (`chat_burst`
  messages at once, refilled at `chat_rate` per second), both counted from when a call
  returns, so jitter between our clock and theirs never costs a 429.
* `PacedLimiter` plugs it into python-telegram-bot (a `BaseRateLimiter`): every call that
  posts into a chat waits its turn; a call made while `BULK` is set (the outbox sets it for
  the digest, reminders and escalations) yields to any interactive message that is ready.
  One chat's messages keep their order. Other calls (answering a button, getUpdates) pass.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections import deque
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

# Set while the outbox sends a bulk row (digest, reminder, escalation): it goes after
# anything interactive that is ready to go.
BULK: ContextVar[bool] = ContextVar("bulk_send", default=False)

# Set by a caller that already waited its turn (`PacedLimiter.turn`) for its next call.
PACED: ContextVar[bool] = ContextVar("paced_send", default=False)

# Methods that post into a chat and count against Telegram's flood limits.
LIMITED = frozenset(
    """sendMessage sendDocument sendPhoto sendAudio sendVideo sendVoice sendAnimation
    sendSticker sendVideoNote sendMediaGroup sendLocation sendVenue sendContact sendPoll
    sendDice copyMessage copyMessages forwardMessage forwardMessages editMessageText
    editMessageCaption editMessageMedia editMessageReplyMarkup""".lower().split()
)


@dataclass
class Pacer:
    """Earliest send times under both limits. `now` is any monotonic clock in seconds.

    A message counts from when its call returns, not when it was let go: Telegram stamps it
    somewhere in between, so counting from the end can only err on the safe side (a batch
    let go at once may reach Telegram spread over a few hundred milliseconds)."""

    per_bot: int = 30
    # Telegram's second (+10 ms): counted from our side's end of each call, which is after
    # Telegram stamped it, so network jitter can only make us early-safe, never late.
    window: float = 1.01
    chat_burst: float = 3.0
    chat_rate: float = 0.95  # per second, a little under Telegram's one
    _ended: deque[float] = field(default_factory=deque)  # calls that returned, in the window
    _flying: int = 0  # calls let go that have not returned yet
    _chats: dict[Any, tuple[float, float]] = field(default_factory=dict)  # chat: tokens, at

    def _tokens(self, chat: Any, now: float) -> float:
        tokens, at = self._chats.get(chat, (self.chat_burst, now))
        return min(self.chat_burst, tokens + max(now - at, 0.0) * self.chat_rate)

    def chat_ready(self, chat: Any, now: float) -> float:
        """When `chat` may have its next message (now, or later)."""
        if chat is None:
            return now
        missing = 1.0 - self._tokens(chat, now)
        return now if missing <= 0 else now + missing / self.chat_rate

    def bot_ready(self, now: float) -> float:
        """When the bot may send its next message (now, later, or `inf`: after a call in
        flight returns)."""
        while self._ended and self._ended[0] <= now - self.window:
            self._ended.popleft()
        excess = len(self._ended) + self._flying - self.per_bot + 1
        if excess <= 0:
            return now
        if excess > len(self._ended):
            return math.inf
        return self._ended[excess - 1] + self.window

    def ready(self, chat: Any, now: float) -> float:
        return max(self.chat_ready(chat, now), self.bot_ready(now))

    def take(self, chat: Any, now: float) -> None:
        """A message is let go now (call only when `ready(chat, now) <= now`)."""
        self._flying += 1
        if chat is not None:
            self._chats[chat] = (self._tokens(chat, now) - 1.0, now)
            if len(self._chats) > 10_000:  # forget chats whose bucket is full again
                for c in [c for c in self._chats if self._tokens(c, now) >= self.chat_burst]:
                    del self._chats[c]

    def done(self, chat: Any, now: float) -> None:
        """Its call returned (or failed): it counts from now; the chat refills from now."""
        self._flying = max(self._flying - 1, 0)
        self._ended.append(now)
        if chat is not None and chat in self._chats:
            self._chats[chat] = (self._chats[chat][0], max(now, self._chats[chat][1]))

    def hold(self, chat: Any, until: float, now: float) -> None:
        """Telegram said 429: this chat gets nothing more before `until`."""
        if chat is not None:
            self._chats[chat] = (1.0 - (until - now) * self.chat_rate, now)


@dataclass(order=True)
class _Waiter:
    bulk: bool
    seq: int
    chat: Any = field(compare=False)
    future: asyncio.Future[None] = field(compare=False)


class PacedLimiter(BaseRateLimiter[dict[str, Any]]):
    """python-telegram-bot's hook into every Bot API call (see the module docstring)."""

    def __init__(self, pacer: Pacer | None = None, clock: Callable[[], float] | None = None):
        self.pacer = pacer or Pacer()
        self._clock = clock
        self._waiting: list[_Waiter] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[Any] | None]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: dict[str, Any] | None,
    ) -> bool | dict[str, Any] | list[Any] | None:
        if endpoint.lower() not in LIMITED:
            return await callback(*args, **kwargs)
        chat = data.get("chat_id")
        chat = None if chat is None else str(chat)
        if PACED.get():
            PACED.set(False)  # the caller waited this call's turn already
        else:
            await self.turn(chat, bulk=BULK.get())
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if hasattr(wait, "total_seconds") else float(wait)
            now = self._now()
            self.pacer.hold(chat, now + seconds, now)
            raise  # the outbox keeps the row and tries again after retry_after
        finally:
            self.pacer.done(chat, self._now())
            if self._waiting:
                self._dispatch()

    async def turn(self, chat: Any, *, bulk: bool = False) -> None:
        """Wait until this message may go: at once when nothing stands in its way."""
        future = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiter(bulk, next(self._seq), chat, future))
        self._dispatch()
        await future

    def would_wait(self, chat: Any) -> bool:
        """This chat has used its allowance: a message to it now would wait its turn."""
        now = self._now()
        return self.pacer.chat_ready(str(chat), now) > now

    def release(self, chat: Any) -> None:
        """A turn was taken but no call made after all."""
        self.pacer.done(chat, self._now())
        if self._waiting:
            self._dispatch()

    def _dispatch(self) -> None:
        """Let go every waiter that may go now, interactive first, each chat in order; then
        set a timer for the next one that will be able to."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._now()
        self._waiting = [w for w in self._waiting if not w.future.done()]  # cancelled
        self._waiting.sort()
        while self._waiting:
            nxt = self.pacer.bot_ready(now)
            if nxt > now:
                break
            heads: set[Any] = set()  # chats with an earlier waiter (one chat keeps order)
            chosen = None
            for w in sorted(self._waiting, key=lambda w: w.seq):
                if w.chat in heads:
                    continue
                if w.chat is not None:
                    heads.add(w.chat)
                ready = self.pacer.chat_ready(w.chat, now) <= now
                if ready and (chosen is None or w < chosen):
                    chosen = w
            if chosen is None:
                nxt = min(self.pacer.chat_ready(w.chat, now) for w in self._waiting)
                break
            self.pacer.take(chosen.chat, now)
            self._waiting.remove(chosen)
            chosen.future.set_result(None)
        if self._waiting and nxt != math.inf:  # else the next call to return dispatches
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(max(nxt - now, 0.001), self._dispatch)
