"""Scripted fault run: both SOPs as five people while the bot is SIGKILLed at random instants
and about 30% of Bot API calls fail.

    .venv/bin/python -m scripts.fault --seed 11 --rounds 1 [--kills 20] [--fault-rate 0.3]
        [--processes 2] [--database-url postgresql+asyncpg://postgres@127.0.0.1/postgres]

(`python -m scripts.fault_run …` and `python scripts/fault_run.py …` still work.)

Starts the fake Bot API server (tests/fakebotapi) and the real `python -m bot run` process
(short leases: OUTBOX_LEASE_SECONDS=2, INBOX_LEASE_SECONDS=2) on a SQLite database in a
temporary folder — or, with --database-url (or DATABASE_URL) naming a PostgreSQL server, on a
new database of its own there, dropped after a passing run — then runs R rounds; each round
runs LAKIP (370) and then Pelaporan Kinerja (371) from /mulai to the archive, with one
revision at a reviewer step chosen by the seeded RNG. The plan (revision step, which Tim
Kerja member acts, note as text or file, receipt as photo) comes from `random.Random(seed)`;
the kills and the faults have RNGs of their own from the same seed (timing inside the bot
still varies, so a seed does not replay exactly).

* Processes: --processes N runs N bot processes on the one database: the first polls
  (`run`, all roles), the others are workers (`run --peran pekerja`): every one of them
  handles stored updates and sends the outbox, so claims and leases are shared for real.
  Each kill picks one of them at random; the others keep going. The outbox lease is then
  6 s, longer than the slowest send (the client's 5 s time-out). A live process also renews
  its claim while a send lasts (handlers/sending.py `_keep_claim`), so only a killed one's
  rows pass to another.
* Kills: a supervisor task SIGKILLs the bot at random instants while the processes run.
  An update a person sends arms a kill (with a probability set so that at least --kills
  kills happen, and never below 0.3): 2 in 3 a random 0.2–3 s later, whatever the bot is
  doing then (handling, sending, backing off, idle), 1 in 3 right after the fake hands an
  update out (0–0.1 s later: between fetch and store, or between store and the action's
  commit). One restart in ten is killed again during start-up. Half the restarts are at
  once, half after a 0.2–2 s pause (what people send meanwhile waits for the bot). Extra
  rounds run while fewer than --kills kills happened. Each kill is classified from the fake
  and the database after it: an update fetched and not stored, stored and not handled, an
  outbox row claimed (a send in flight), or idle. A bot that exits by itself is restarted
  and counted as a failure.
* Faults: `FakeBotApi.fail_randomly(rate)`: that fraction of all calls except getUpdates
  answers 500, 502, 429 (retry_after=1), stalls 0.3–9 s (past the client's 5 s it times out
  and nothing happened), or takes effect and then stalls 5.5–7 s (Telegram did it, the answer
  was lost). Faults stay on until the end, start-up and the final settling included.
* People: every update is sent once. Its answer is what shows it took effect: the next task
  card recorded as sent in the outbox (step instances and outbox rows of the bot's database
  say which message is the card of which activation), the checklist tick in the card, the
  next prompt, "Proses selesai" for everyone. An answer that does not come within WAIT is a
  lost update; the run then waits 2×WAIT more to tell "late" (and goes on) from "never"
  (and ends). If the bot says a file could not be downloaded (getFile failed four times),
  the person sends it again (counted; nothing was lost: they were told).
* Live cards: after each step closes (its answer arrived) and at the end, every task card
  ("📋 ...") that still has buttons must belong to an open step instance, at most one per
  chat; a violation that does not heal within WAIT counts as a step with two live cards
  (one that heals is counted as healed: the twin of an uncertain send is closed after the
  re-send, so a short overlap is the design).

At the end: every process `selesai`; the outbox empty (every row sent, or cancelled as
`batal` because its step closed before it went out, never a card its actor needed); every
update the fake issued stored and handled; each person's task cards in order, a repeated
card allowed only when closed and explained (a lost answer or a kill while a send was in
flight for that chat); "Proses selesai" and the right final document for each person and
process, repeats only when explained the same way; the audit log's step outcomes exactly as
expected per process (an extra one is a duplicate transition), no extra step instances; no
"unexpected error" answer; no handler error in bot.log; the token never logged. Prints a
report with
`lost updates`, `duplicate transitions`, `steps with two live cards`, `SIGKILLs` and
`injected faults`; exit status 1 on any failure (the temp folder is then kept, with bot.log
and timeline.log: people's updates, kills, restarts and every Bot API call with its fault, by
the wall clock bot.log uses).

Modules: `plan` (the SOPs and a seeded plan per process), `common` (constants, message
helpers, reading the bot's database), `supervisor` (kills and restarts), `run` and `actions`
(the people and what they wait for), `checks` (the verdict), `main` (the command line).
"""
