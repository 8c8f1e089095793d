"""Command line for the records (issue 11):

    python -m bot riwayat N --pdf FILE [--png FILE]
    python -m bot rekap --dari 2026-01-01 --sampai 2026-12-31 [--sop 370] --xlsx FILE [--png FILE]
    python -m bot arsip list
    python -m bot audit verify [--kepala HASH]

Each prints one short answer; a problem is one line on stderr and exit 1."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from sqlalchemy import select

from bot.config import Settings


def _fail(message: str, code: int = 1) -> int:
    print(f"GAGAL: {message}", file=sys.stderr)
    return code


async def _run(work):  # type: ignore[no-untyped-def]
    """`work(rt, session)` against the database, brought to the newest schema first."""
    from bot.clock import Clock
    from bot.runtime import Runtime
    from storage.db import make_engine, make_sessions, upgrade

    settings = Settings()  # type: ignore[call-arg]
    await asyncio.to_thread(upgrade, settings.database_url)
    engine = make_engine(settings.database_url, settings.pool)
    try:
        rt = Runtime.build(settings, make_sessions(engine), Clock())
        async with rt.sessions() as session:
            return await work(rt, session)
    finally:
        await engine.dispose()


def cmd_riwayat(args: argparse.Namespace) -> int:
    from bot.services import record_files, records
    from bot.services.common import sop_of
    from storage.models import Process

    async def work(rt, session):  # type: ignore[no-untyped-def]
        process = await session.get(Process, args.nomor)
        if process is None:
            return None
        return await records.history(rt, session, process, sop_of(rt, process), rt.clock.now())

    history = asyncio.run(_run(work))
    if history is None:
        return _fail(f"proses #{args.nomor} tidak ditemukan")
    pdf, png = record_files.render_riwayat(history)
    Path(args.pdf).write_bytes(pdf)
    if args.png:
        Path(args.png).write_bytes(png)
    head_id, head_hash = history.chain_head
    print(
        f"Riwayat proses #{history.process_id} ({len(history.steps)} langkah) tersimpan di "
        f"{args.pdf}. Kepala rantai log audit: baris #{head_id}, {head_hash}"
    )
    return 0


def cmd_rekap(args: argparse.Namespace) -> int:
    from bot.services import rekap
    from bot.services.common import ServiceError

    async def work(rt, session):  # type: ignore[no-untyped-def]
        wanted = [args.sop] if args.sop else []
        sops, _ = rekap.parse_args(rt, wanted, rt.clock.now())
        period = rekap.records.Period(
            date.fromisoformat(args.dari), date.fromisoformat(args.sampai)
        )
        return rt, period, await rekap.compute(rt, session, sops, period, rt.clock.now())

    try:
        rt, period, result = asyncio.run(_run(work))
    except ValueError:
        return _fail("tanggal ditulis TAHUN-BULAN-TANGGAL, mis. 2026-01-01")
    except ServiceError as exc:
        return _fail(exc.message)
    book, png = rekap.render(rt, result, period)
    Path(args.xlsx).write_bytes(book)
    if args.png:
        Path(args.png).write_bytes(png)
    print(rekap.summary(rt, result, period).replace("📊 ", ""))
    print(f"XLSX tersimpan di {args.xlsx}.")
    return 0


def cmd_arsip(_: argparse.Namespace) -> int:
    from bot.services import records
    from bot.texts.records import stamp

    async def work(rt, session):  # type: ignore[no-untyped-def]
        return rt, await records.tanda_terima(rt, session)

    rt, rows = asyncio.run(_run(work))
    if not rows:
        print("Belum ada tanda terima yang tercatat.")
    for r in rows:
        print(
            f"#{r.process_id}\t{r.nomor_agenda or '-'}\tSOP {r.sop_short}\t{r.title}\t{r.label}\t"
            f"{r.uploaded_by}\t{stamp(r.at, rt.settings.timezone)}"
        )
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from bot.texts import records as t
    from storage.audit_chain import ChainRow, verify
    from storage.models import AuditLog

    seen_head = False

    def rows(found) -> Iterator[ChainRow]:  # type: ignore[no-untyped-def]
        nonlocal seen_head
        for r in found:
            if args.kepala and r.hash.startswith(args.kepala.lower()):
                seen_head = True
            yield ChainRow(
                r.id, r.at, r.person_id, r.process_id, r.step_no, r.action, r.detail,
                r.prev_hash, r.hash,
            )  # fmt: skip

    async def work(rt, session):  # type: ignore[no-untyped-def]
        found = await session.execute(select(AuditLog).order_by(AuditLog.id))
        return verify(rows(found.scalars()))

    verdict = asyncio.run(_run(work))
    if verdict.finding is not None:
        return _fail(t.verify_broken(verdict.finding.message, verdict.rows))
    if args.kepala and not seen_head:
        return _fail(t.verify_head_missing(args.kepala))
    print(t.verify_ok(verdict.rows, verdict.head_id, verdict.head_hash))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    riwayat = sub.add_parser("riwayat", help="riwayat sebuah proses sebagai PDF (dan PNG)")
    riwayat.add_argument("nomor", type=int, help="nomor proses, mis. 12")
    riwayat.add_argument("--pdf", required=True, help="berkas PDF yang ditulis")
    riwayat.add_argument("--png", help="berkas PNG grafik waktu kerja (opsional)")
    riwayat.set_defaults(func=cmd_riwayat)

    rekap = sub.add_parser("rekap", help="rekap evaluasi SOP sebagai XLSX (dan PNG)")
    rekap.add_argument("--dari", required=True, help="tanggal awal, mis. 2026-01-01")
    rekap.add_argument("--sampai", required=True, help="tanggal akhir (termasuk)")
    rekap.add_argument("--sop", help="hanya SOP ini, mis. 370")
    rekap.add_argument("--xlsx", required=True, help="berkas XLSX yang ditulis")
    rekap.add_argument("--png", help="berkas PNG grafik (opsional)")
    rekap.set_defaults(func=cmd_rekap)

    arsip = sub.add_parser("arsip", help="register tanda terima")
    arsip.add_argument("arsip_cmd", choices=["list"])
    arsip.set_defaults(func=cmd_arsip)

    audit = sub.add_parser("audit", help="log audit")
    audit.add_argument("audit_cmd", choices=["verify"])
    audit.add_argument("--kepala", help="kepala rantai yang pernah dicetak (awal hash-nya)")
    audit.set_defaults(func=cmd_audit)
