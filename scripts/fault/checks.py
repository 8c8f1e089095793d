"""The verdict after a fault run: nothing lost, nothing done twice, no twin live card."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from itertools import groupby
from typing import TYPE_CHECKING

from scripts.fault.common import (
    CARD,
    CLIENT_TIMEOUT,
    FINAL,
    HOLDERS,
    OUTCOMES,
    SELESAI,
    _final_document,
    _finished,
    _kind_of,
    _text,
    _tokens,
)
from scripts.fault.plan import ProcessRun
from tests.e2e.conftest import PEOPLE, TOKEN
from tests.fakebotapi import FakeBotApi

if TYPE_CHECKING:
    from scripts.fault.run import FaultRun


def _card_of(text: str, titles: list[str]) -> tuple[str, int] | None:
    """(title, step) of a task card ("📋 ... title ...\nLangkah N: ..."), else None."""
    if not text.startswith("📋"):
        return None
    lines = text.split("\n")
    title = max((t for t in titles if t in lines[0]), key=len, default=lines[0])
    step_line = next((ln for ln in lines if ln.startswith("Langkah ")), "Langkah ?:")
    no = step_line.split(":")[0].removeprefix("Langkah ")
    return title, int(no) if no.isdigit() else -1


def _delivered_tasks(server: FakeBotApi, uid: int, titles: list[str]) -> list[tuple[str, int]]:
    """(title, step) of each task card delivered (each message once, whatever edits followed)."""
    cards = (_card_of(msg.get("text") or "", titles) for msg in server.delivered(uid))
    return [c for c in cards if c is not None]


def _lost_answers(server: FakeBotApi) -> Counter[tuple[int, str]]:
    """(chat, kind) of sends that may have taken effect without the bot knowing."""
    out: Counter[tuple[int, str]] = Counter()
    for method, kind, seconds, params in server.random_fault_log:
        if kind == "lost_answer" or (kind == "stall" and seconds >= CLIENT_TIMEOUT - 0.5):
            text = str(params.get("text") or params.get("caption") or "")
            found = _kind_of(method, text, bool(params.get("reply_markup")))
            if found is not None and str(params.get("chat_id", "")).lstrip("-").isdigit():
                out[(int(params["chat_id"]), found)] += 1
    return out


@dataclass
class Figures:
    lost: int = 0
    duplicates: int = 0
    live_cards: int = 0
    repeats: Counter[str] = field(default_factory=Counter)
    explained: Counter[str] = field(default_factory=Counter)


def check(run: FaultRun, runs: list[ProcessRun]) -> tuple[list[tuple[bool, str, str]], Figures]:
    server = run.server
    results: list[tuple[bool, str, str]] = []
    fig = Figures()

    def add(ok: bool, name: str, detail: str = "") -> None:
        results.append((ok, name, detail))

    rows = run.q("select id, title, status from processes order by id")
    bad = [r for r in rows if r[2] != "selesai"]
    titles = [r[1] for r in rows]
    add(
        not bad and titles == [r.title for r in runs],
        f"processes finished ({len(rows) - len(bad)}/{len(runs)} selesai)",
        f"not finished: {bad}; titles {titles}" if bad or titles != [r.title for r in runs] else "",
    )

    # 'batal': a copy of a card (reminder, escalation) whose step closed before it went out.
    statuses = dict(run.q("select status, count(*) from outbox group by status"))
    failed = run.q(
        "select id, chat_id, method, status, last_error from outbox "
        "where status not in ('sent', 'batal')",
    )
    add(
        not failed,
        f"outbox all sent ({statuses.get('sent', 0)} rows sent, "
        f"{statuses.get('batal', 0)} cancelled as their step closed first, {len(failed)} not)",
        f"{failed[:5]}" if failed else "",
    )
    cancelled = Counter(
        (chat, title, no, occurrence)
        for chat, title, no, occurrence in run.q(
            "select o.chat_id, p.title, s.step_no, (select count(*) from step_instances e "
            "where e.process_id = s.process_id and e.step_no = s.step_no and e.role = s.role "
            "and e.id < s.id) "
            "from outbox o join step_instances s on s.id = o.step_instance_id "
            "join processes p on p.id = s.process_id "
            "where o.status = 'batal' and o.method = 'send_message'",
        )
    )
    actors = {(v.actor, r.title, v.no, v.occurrence) for r in runs for v in r.visits}
    needed = sorted(k for k in cancelled if k in actors)
    add(
        not needed,
        f"no card its actor needed was cancelled ({sum(cancelled.values())} cards cancelled)",
        f"{needed}" if needed else "",
    )

    # Lost updates: every update the fake issued stored and handled, every answer seen.
    inbox = dict(run.q("select update_id, handled_at from inbox"))
    never_stored = sorted(set(server._history) - set(inbox))
    unhandled = sorted(u for u, h in inbox.items() if h is None)
    fig.lost = len(run.lost) + len(never_stored) + len(unhandled)
    add(
        not never_stored and not unhandled,
        f"inbox: all {len(server._history)} updates the fake issued stored and handled",
        f"never stored {never_stored[:10]}, stored but unhandled {unhandled[:10]}"
        if never_stored or unhandled
        else "",
    )
    add(not run.lost, "every update took effect (its answer came within WAIT)", "; ".join(run.lost))

    # Task cards in order; a repeat only as a closed twin, explained by an uncertain send.
    lost_answers = _lost_answers(server)
    in_flight = run.sup.in_flight if run.sup else Counter()
    unexplained: list[str] = []

    def repeats(uid: int, kind: str, n: int) -> None:
        if n <= 0:
            return
        fig.repeats[kind] += n
        why = lost_answers[(uid, kind)] + in_flight[(uid, kind)]
        fig.explained[kind] += min(n, why)
        if n > why:
            unexplained.append(
                f"{PEOPLE[uid][0]}: {n} repeated {kind}(s), {why} lost answer(s)/kill(s) mid-send"
            )

    for uid, (name, _) in PEOPLE.items():
        expected = [
            (r.title, v.no)
            for r in runs
            for v in r.visits
            if (uid in HOLDERS[v.role] or uid in r.sop.scanners(v.no, v.kind))
            and not cancelled[(uid, r.title, v.no, v.occurrence)]
        ]
        got = _delivered_tasks(server, uid, [r.title for r in runs])
        got_runs = [(k, len(list(g))) for k, g in groupby(got)]
        exp_runs = [(k, len(list(g))) for k, g in groupby(expected)]
        ok = [k for k, _ in got_runs] == [k for k, _ in exp_runs] and all(
            g >= e for (_, g), (_, e) in zip(got_runs, exp_runs, strict=True)
        )
        extra = len(got) - len(expected) if ok else 0
        repeats(uid, CARD, extra)
        detail = ""
        if not ok:
            detail = f"got {[n for _, n in got]}, expected {[n for _, n in expected]}"
        add(
            ok,
            f"{name}: {len(expected)} task cards in order"
            + (f" (+{extra} closed repeat{'s' * (extra > 1)})" if extra else ""),
            detail,
        )

    for uid, (name, _) in PEOPLE.items():
        delivered = server.delivered(uid)
        counts = [sum(_finished(m, r.title) for m in delivered) for r in runs]
        finals = [
            server.file_bytes(m["document"]["file_id"]) for m in delivered if _final_document(m)
        ]
        distinct = [f for i, f in enumerate(finals) if f not in finals[:i]]
        right = distinct == [r.final for r in runs]
        repeats(uid, SELESAI, sum(counts) - len(runs))
        repeats(uid, FINAL, len(finals) - len(distinct))
        detail = "" if all(counts) else f"'Proses selesai' per process {counts}; "
        detail += "" if right else f"final documents {[f[:40] for f in finals]}"
        add(
            all(counts) and right,
            f"{name}: 'Proses selesai' and the right final document for each process"
            + (
                f" (copies: selesai {counts}, documents {len(finals)})"
                if len(finals) > len(runs) or max(counts, default=1) > 1
                else ""
            ),
            detail,
        )
    add(
        not unexplained,
        "every repeated message explained by a lost answer or a kill mid-send",
        "; ".join(unexplained),
    )

    # Duplicate transitions: audit outcomes and step instances exactly as planned.
    marks = ",".join(f"'{o}'" for o in OUTCOMES)
    for r in runs:
        got = [  # a disposisi forwarded with one tap is "diteruskan": done, as "selesai"
            (no, "selesai" if action == "diteruskan" else action)
            for no, action in run.q(
                f"select step_no, action from audit_log where process_id = ? "
                f"and action in ({marks}) order by id",
                (r.process_id,),
            )
        ]
        expected = [(1, "selesai")] + [(v.no, v.outcome) for v in r.visits]
        extra = sum((Counter(got) - Counter(expected)).values())
        instances = Counter(
            dict(
                run.q(
                    "select step_no, count(*) from step_instances where process_id = ? "
                    "and step_no > 1 group by step_no",
                    (r.process_id,),
                )
            )
        )
        extra_instances = sum((instances - Counter(v.no for v in r.visits)).values())
        fig.duplicates += extra + extra_instances
        add(
            got == expected and not extra_instances,
            f"audit #{r.process_id} {r.sop.name}: outcomes of steps "
            + " ".join(f"{n}{'R' if o == 'revisi' else ''}" for n, o in expected),
            ""
            if got == expected and not extra_instances
            else f"got {got}; {extra} extra outcome(s), {extra_instances} extra step instance(s)",
        )

    fig.live_cards = len(run.card_failures)
    add(
        not run.card_failures,
        "no step with two live cards, no live card for a closed step",
        "; ".join(run.card_failures.values()),
    )
    live_end = [
        (PEOPLE[uid][0], m["message_id"])
        for uid in PEOPLE
        for m in server.delivered(uid)
        if _text(m).startswith("📋") and _tokens(m)
    ]
    add(not live_end, "at the end no task card has buttons", f"{live_end}" if live_end else "")

    oops = [
        (PEOPLE[uid][0], m["message_id"])
        for uid in PEOPLE
        for m in server.delivered(uid)
        if _text(m).startswith("Maaf, terjadi gangguan")
    ]
    add(not oops, "no 'unexpected error' answer", f"{oops}" if oops else "")
    log_text = run.output()
    handler_errors = log_text.count("error while handling an update")
    add(not handler_errors, "no handler error in bot.log", f"{handler_errors} in bot.log")
    if run.sup is not None:
        add(
            not run.sup.self_exits,
            "the bot never exited by itself",
            "; ".join(run.sup.self_exits[:3]),
        )
        add(not run.sup.errors, "supervisor ran cleanly", "; ".join(run.sup.errors[:3]))
    add(
        not server.internal_errors,
        "fake Bot API had no internal errors",
        "; ".join(server.internal_errors),
    )
    add(TOKEN not in log_text, "bot token never logged")
    return results, fig
