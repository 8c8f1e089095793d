"""Command line: `python -m bot run | users ... | sop ... | tenggat ... | db upgrade`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from bot.config import Settings
from bot.sop.loader import SopFileError, SopRegistry, load_file


def _fail(message: str, code: int = 2) -> int:
    print(f"GAGAL: {message}", file=sys.stderr)
    return code


# The database is not there (yet): worth waiting for in `run`, a one-line error elsewhere.
UNREACHABLE = (OSError, TimeoutError, DBAPIError)


def _db_problem(settings: Settings, exc: BaseException) -> str:
    """One line, without the password: where, and what the driver said."""
    where = settings.database_url.split("@")[-1]
    first = (str(exc).splitlines() or [""])[0][:300]
    return f"database tidak dapat dipakai ({where}): {type(exc).__name__}: {first}"


def _settings() -> Settings:
    return Settings()  # type: ignore[call-arg]


class RedactToken(logging.Filter):
    """The bot token is in every Bot API URL; it must never reach a log."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self.token:
            message = record.getMessage()
            if self.token in message:
                record.msg, record.args = message.replace(self.token, "<TOKEN>"), ()
        return True


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs every URL, token included
    logging.getLogger("apscheduler").setLevel(logging.ERROR)  # "skipped: already running"
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactToken(token))


def cmd_run(args: argparse.Namespace) -> int:
    settings = _settings()
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        return _fail("TELEGRAM_BOT_TOKEN belum diisi. Salin .env.example ke .env dan isi tokennya.")
    _logging(settings)
    try:
        SopRegistry.load(settings.sop_dir)
    except SopFileError as exc:
        return _fail(f"definisi SOP rusak: {exc}")
    from storage.db import upgrade

    delay = 1.0
    while True:  # a database that is still starting (or briefly down) is waited for
        try:
            upgrade(settings.database_url)
            break
        except UNREACHABLE as exc:
            logging.getLogger("bot").warning(
                "%s; dicoba lagi dalam %.0f detik", _db_problem(settings, exc), delay
            )
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        except Exception as exc:  # a wrong URL or driver: say it plainly and stop
            return _fail(_db_problem(settings, exc))
    from bot.app import build_app
    from bot.clock import Clock
    from bot.runtime import Runtime
    from storage.db import make_engine, make_sessions

    rt = Runtime.build(
        settings, make_sessions(make_engine(settings.database_url, settings.pool)), Clock()
    )
    app = build_app(rt, jobs=args.peran != "penerima")
    from handlers.runner import serve

    asyncio.run(serve(app, receive=args.peran != "pekerja"))
    return 0


async def _with_session(settings: Settings, work):  # type: ignore[no-untyped-def]
    from storage.db import make_engine, make_sessions, upgrade

    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url, settings.pool)
    try:
        async with make_sessions(engine).begin() as session:
            return await work(session)
    finally:
        await engine.dispose()


def cmd_users(args: argparse.Namespace) -> int:
    from bot import people
    from bot.clock import Clock

    settings = _settings()
    now = Clock().now()
    if args.users_cmd == "add":
        roles = SopRegistry.load(settings.sop_dir).role_codes()
        wanted = [r.strip() for r in args.role.split(",") if r.strip()]
        unknown = [r for r in wanted if r not in roles]
        if unknown or not wanted:
            return _fail(
                f"peran tidak dikenal: {', '.join(unknown) or '-'}. Pilihan: {', '.join(roles)}"
            )

        async def add(session):  # type: ignore[no-untyped-def]
            return await people.add_person(
                session, now, args.telegram_id, args.name, wanted, nip=args.nip, sapaan=args.sapaan
            )

        person = asyncio.run(_with_session(settings, add))
        print(
            f"Terdaftar: {person.name} (telegram id {person.telegram_id}) sebagai "
            f"{', '.join(wanted)}. Minta ia membuka bot dan menekan Start."
        )
        return 0
    if args.users_cmd == "plh":
        return _users_plh(args, settings)
    if args.users_cmd == "remove":
        removed = asyncio.run(
            _with_session(settings, lambda s: people.remove_person(s, args.telegram_id))
        )
        if not removed:
            return _fail(f"tidak ada orang dengan telegram id {args.telegram_id}", 1)
        print(f"Dinonaktifkan: telegram id {args.telegram_id}")
        return 0
    rows = asyncio.run(_with_session(settings, people.list_people))
    for person, roles in rows:
        if not person.active:
            continue
        reach = (
            "bisa dihubungi"
            if person.started_at and not person.unreachable_reason
            else (
                f"TIDAK bisa dihubungi: {person.unreachable_reason}"
                if person.unreachable_reason
                else "belum menekan Start"
            )
        )
        print(f"{person.telegram_id}\t{person.name}\t{','.join(roles) or '-'}\t{reach}")
    return 0


def _users_plh(args: argparse.Namespace, settings: Settings) -> int:
    """users plh: name a Plh/Plt (as the admin's /plh does), --list them, --akhiri one."""
    from datetime import date

    from bot.clock import Clock
    from bot.runtime import Runtime
    from bot.services import standins
    from bot.services.common import ServiceError

    rt = Runtime.build(settings, None, Clock())  # type: ignore[arg-type]
    if args.list:
        lines = asyncio.run(_with_session(settings, lambda s: standins.current_and_upcoming(rt, s)))
        print("\n".join(lines) or "Belum ada Plh/Plt yang berlaku atau terjadwal.")
        return 0
    if args.akhiri is None:
        if None in (args.role, args.telegram_id, args.dari, args.sampai):
            return _fail("tulis --role, --telegram-id, --dari dan --sampai (atau --list)", 1)
        try:
            dari, sampai = date.fromisoformat(args.dari), date.fromisoformat(args.sampai)
        except ValueError:
            return _fail("tanggal ditulis TAHUN-BULAN-TANGGAL, mis. 2026-11-23", 1)

    async def work(session):  # type: ignore[no-untyped-def]
        now = rt.clock.now()  # the admin is 0 below: the command line, not a chat
        if args.akhiri is not None:
            return await standins.end_early(rt, session, now, 0, args.akhiri)
        return (
            await standins.create(
                rt,
                session,
                now,
                0,
                args.role,
                args.telegram_id,
                dari,
                sampai,
                args.jenis,
                args.untuk,
            )
        ).text

    try:
        print(asyncio.run(_with_session(settings, work)))
    except ServiceError as exc:
        return _fail(exc.message, 1)
    return 0


def cmd_sop(args: argparse.Namespace) -> int:
    settings = _settings()
    if args.sop_cmd == "validate":
        try:
            sop = load_file(Path(args.file))
        except SopFileError as exc:
            return _fail(str(exc), 1)
        print(f"OK: {sop.number} {sop.title} ({len(sop.steps)} langkah)")
        return 0
    try:
        registry = SopRegistry.load(settings.sop_dir)
    except SopFileError as exc:
        return _fail(str(exc))
    if args.sop_cmd == "list":
        for sop in registry.all():
            print(f"{sop.number}\t{sop.title}\t{len(sop.steps)} langkah")
        return 0
    sop = registry.get(args.number)
    if sop is None:
        return _fail(f"SOP {args.number} tidak ditemukan", 1)
    if args.json:
        data = sop.model_dump(mode="json")
        data["short"] = sop.short
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(f"{sop.number} — {sop.title}")
        for step in sop.steps:
            print(f"{step.no:>2}. [{step.kind.value}] {step.role}: {step.kegiatan} ({step.waktu})")
    return 0


def cmd_tenggat(args: argparse.Namespace) -> int:
    from bot.clock import Clock
    from bot.runtime import Runtime
    from bot.workflow.calendar import parse_waktu

    settings = _settings()
    try:
        waktu = parse_waktu(args.waktu)
        start = datetime.fromisoformat(args.mulai)
    except ValueError as exc:
        return _fail(str(exc), 1)
    tz = ZoneInfo(settings.timezone)
    if start.tzinfo is None:
        start = start.replace(tzinfo=tz)
    rt = Runtime.build(settings, None, Clock())  # type: ignore[arg-type]
    deadline = rt.scaled(start, rt.calendar.add(start, waktu))
    print(deadline.astimezone(tz).isoformat())
    return 0


def cmd_db(_: argparse.Namespace) -> int:
    from storage.db import upgrade

    upgrade(_settings().database_url)
    print("Database sudah versi terbaru.")
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from bot import ops

    settings = _settings()
    scan_limit = args.pindai_maks or ops.scan_age_limit(settings.scan_interval_seconds)
    checks = asyncio.run(ops.health(settings.database_url, args.umur_maks, scan_limit))
    for check in checks:
        print(f"{'OK   ' if check.ok else 'GAGAL'} {check.text}")
    return 0 if all(c.ok for c in checks) else 1


def cmd_backup(args: argparse.Namespace) -> int:
    from bot import ops

    ops.backup(_settings().database_url, Path(args.berkas))
    print(f"Cadangan database tersimpan di {args.berkas}.")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from bot import ops

    try:
        ops.restore(_settings().database_url, Path(args.berkas))
    except FileNotFoundError as exc:
        return _fail(str(exc), 1)
    print(f"Database dipulihkan dari {args.berkas}. Jalankan ulang bot.")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bot", description="Bot Disposisi SOP")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="jalankan bot")
    run.add_argument(
        "--peran",
        choices=["semua", "penerima", "pekerja"],
        default="semua",
        help=(
            "semua: menerima update, menanganinya, dan menjalankan pengingat/outbox; "
            "penerima: menerima (polling/webhook) dan menangani update saja; "
            "pekerja: menangani update tersimpan dan menjalankan pengingat/outbox, tanpa polling"
        ),
    )
    run.set_defaults(func=cmd_run)

    users = sub.add_parser("users", help="kelola orang dan peran")
    users.set_defaults(func=cmd_users)
    usub = users.add_subparsers(dest="users_cmd", required=True)
    add = usub.add_parser("add")
    add.add_argument("--telegram-id", type=int, required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, help="kadis, sekretaris, jafung, tim_kerja (koma)")
    add.add_argument("--nip")
    add.add_argument("--sapaan", help='sapaan bot kepadanya, mis. "Bapak Kepala Dinas"')
    usub.add_parser("list")
    rm = usub.add_parser("remove")
    rm.add_argument("--telegram-id", type=int, required=True)
    plh = usub.add_parser("plh", help="Plh/Plt: pengganti pemegang peran yang berhalangan")
    plh.add_argument("--list", action="store_true", help="Plh/Plt yang berlaku dan terjadwal")
    plh.add_argument("--akhiri", type=int, metavar="NOMOR", help="akhiri Plh/Plt #NOMOR sekarang")
    plh.add_argument("--role")
    plh.add_argument("--telegram-id", type=int, help="id Telegram pengganti")
    plh.add_argument("--dari", help="tanggal pertama, mis. 2026-11-23")
    plh.add_argument("--sampai", help="tanggal terakhir (termasuk)")
    plh.add_argument(
        "--untuk", type=int, help="id Telegram yang digantikan (peran beranggota banyak)"
    )
    plh.add_argument("--jenis", choices=["plh", "plt"], default="plh")

    sop = sub.add_parser("sop", help="definisi SOP")
    sop.set_defaults(func=cmd_sop)
    ssub = sop.add_subparsers(dest="sop_cmd", required=True)
    ssub.add_parser("list")
    val = ssub.add_parser("validate")
    val.add_argument("file")
    show = ssub.add_parser("show")
    show.add_argument("number")
    show.add_argument("--json", action="store_true")

    ten = sub.add_parser("tenggat", help="hitung tenggat sebuah langkah")
    ten.add_argument("--mulai", required=True, help="mis. 2026-03-17T15:00 (waktu setempat)")
    ten.add_argument("--waktu", required=True, help='mis. "2 Hari"')
    ten.set_defaults(func=cmd_tenggat)

    health = sub.add_parser("health", help="periksa kesehatan bot (exit 1 bila tidak sehat)")
    health.add_argument(
        "--umur-maks", type=float, default=300.0, help="detik tunggu terlama yang wajar"
    )
    health.add_argument(
        "--pindai-maks",
        type=float,
        help="detik terlama tanpa pemindaian pengingat/outbox (bawaan: 10 x SCAN_INTERVAL_SECONDS,"
        " paling sedikit 60)",
    )
    health.set_defaults(func=cmd_health)
    bak = sub.add_parser("backup", help="cadangkan database ke BERKAS")
    bak.add_argument("berkas")
    bak.set_defaults(func=cmd_backup)
    res = sub.add_parser("restore", help="pulihkan database dari BERKAS (bot dihentikan dulu)")
    res.add_argument("berkas")
    res.set_defaults(func=cmd_restore)

    db = sub.add_parser("db", help="database")
    db.add_argument("db_cmd", choices=["upgrade"])
    db.set_defaults(func=cmd_db)
    from bot import cli_records

    cli_records.register(sub)  # riwayat, rekap, arsip, audit verify
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UNREACHABLE as exc:
        return _fail(_db_problem(_settings(), exc), 1)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]).upper()
        return _fail(f"pengaturan {field} tidak valid: {err['msg']}")


if __name__ == "__main__":
    sys.exit(main())
