"""Records built from the database: a finished LAKIP with a revision, seeded row by row
(the step from Friday afternoon to Tuesday morning spans a weekend and Hari Kemerdekaan),
then the riwayat, the lembar disposisi, the archive, the register and the recap read back,
through the services and through the command line."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.config import Settings
from bot.people import add_person
from bot.runtime import Runtime
from bot.services import lembar, record_files, records, rekap
from bot.services.common import audit
from bot.services.outgoing import enqueue
from storage.db import make_engine, make_sessions, upgrade
from storage.models import Document, Outbox, Process, RevisionNote, StepInstance
from tests.dbs import database_url_for, ensure_database

ROOT = Path(__file__).resolve().parents[2]
WITA = ZoneInfo("Asia/Makassar")
LAKIP = "000.8.3.3/370/100.14"
PEOPLE = [
    (101, "Pak Kadis", "kadis"),
    (102, "Bu Sekretaris", "sekretaris"),
    (103, "Pak Jafung", "jafung"),
    (104, "Ani Tim Kerja", "tim_kerja"),
]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 8, day, hour, minute, tzinfo=WITA)


# (step, round, role, actor, start, end, outcome, note); who got the next card is the role's
STEPS = [
    (1, 0, "kadis", 101, at(12, 8), at(12, 8, 2), "selesai", None),
    (2, 0, "sekretaris", 102, at(12, 8, 2), at(12, 8, 6), "selesai", "Mohon ditindaklanjuti."),
    (3, 0, "jafung", 103, at(12, 8, 6), at(12, 9), "selesai", None),
    (4, 0, "tim_kerja", 104, at(12, 9), at(13, 9), "selesai", None),
    (5, 0, "tim_kerja", 104, at(13, 9), at(13, 15), "diunggah", None),
    # Friday 15.00 → Tuesday 08.30: 60 + 60 working minutes (weekend, 17 August skipped)
    (6, 0, "jafung", 103, at(14, 15), at(18, 8, 30), "disetujui", None),
    (7, 0, "sekretaris", 102, at(18, 8, 30), at(18, 10), "disetujui", None),
    (8, 0, "kadis", 101, at(18, 10), at(18, 11), "revisi", "Capaian sasaran 2 belum ada."),
    (5, 1, "tim_kerja", 104, at(18, 11), at(18, 14), "diunggah", None),
    (8, 1, "kadis", 101, at(18, 14), at(18, 14, 30), "disetujui", None),
    (9, 0, "jafung", 103, at(18, 14, 30), at(19, 9), "diunggah", None),
    (10, 0, "tim_kerja", 104, at(19, 9), at(19, 10), "diunggah", None),
    (11, 0, "tim_kerja", 104, at(19, 10), at(19, 10, 3), "selesai", None),
]
# (step, purpose, file name, content, by, at)
DOCS = [
    (1, "surat_edaran", "surat_edaran.pdf", b"%PDF surat edaran", 101, at(12, 8)),
    (5, "draft", "draft_lakip_v1.docx", b"PK draft v1", 104, at(13, 15)),
    (5, "draft", "draft_lakip_v2.pdf", b"%PDF draft v2", 104, at(18, 14)),
    (9, "lampiran", "surat_pengantar.pdf", b"%PDF pengantar", 103, at(19, 9)),
    (10, "lampiran", "Tanda Terima 2026-08-19.jpg", b"\xff\xd8\xff receipt", 104, at(19, 10)),
]


@pytest.fixture
async def rt(tmp_path):  # type: ignore[no-untyped-def]
    url = database_url_for(tmp_path)
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    settings = Settings(
        telegram_bot_token="1:x",
        database_url=url,
        files_dir=tmp_path / "files",
        work_calendar="office",
        _env_file=None,
    )
    engine = make_engine(url)
    runtime = Runtime.build(settings, make_sessions(engine), FakeClock(at(20, 9)))
    await seed(runtime, tmp_path)
    yield runtime
    await engine.dispose()


async def seed(rt: Runtime, tmp_path: Path) -> None:
    async with rt.sessions.begin() as s:
        ids = {}
        for tg, name, role in PEOPLE:
            person = await add_person(s, at(1, 8), tg, name, [role])
            ids[tg] = person.id
        process = Process(
            sop_number=LAKIP,
            title="LAKIP Tahun 2026",
            arahan="Segera disusun sesuai Surat Edaran Sekda.",
            starter_id=ids[101],
            status="selesai",
            current_step=None,
            state={},
            created_at=at(12, 8),
            finished_at=at(19, 10, 3),
        )
        s.add(process)
        await s.flush()
        audit(s, at(12, 8), ids[101], "mulai", process.id, None, f"{LAKIP}: LAKIP Tahun 2026")
        for no, round_, role, actor, start, end, outcome, note in STEPS:
            si = StepInstance(
                process_id=process.id,
                step_no=no,
                role=role,
                round=round_,
                started_at=start,
                deadline_at=start,
                finished_at=end,
                outcome=outcome,
                actor_id=ids[actor],
                note=note,
            )
            s.add(si)
            await s.flush()
            audit(s, start, None, "aktif", process.id, no)
            audit(s, end, ids[actor], outcome, process.id, no, note)
            # the card of this step went to every holder of its role
            for tg, _, r in PEOPLE:
                if r == role:
                    row = enqueue(s, start, tg, "send_message", {"text": "kartu"}, si.id)
                    row.tag = "card"
        s.add(
            RevisionNote(
                process_id=process.id,
                from_step=8,
                to_step=5,
                round=1,
                note="Capaian sasaran 2 belum ada.",
                reviewer_id=ids[101],
                created_at=at(18, 11),
            )
        )
        versions: dict[tuple[int, str], int] = {}
        for no, purpose, name, content, by, when in DOCS:
            path = tmp_path / "files" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
            versions[(no, purpose)] = versions.get((no, purpose), 0) + 1
            s.add(
                Document(
                    process_id=process.id,
                    step_no=no,
                    version=versions[(no, purpose)],
                    purpose=purpose,
                    file_name=name,
                    size=len(content),
                    sha256="0" * 64,
                    telegram_file_id="f",
                    path=str(path),
                    uploaded_by=ids[by],
                    created_at=when,
                )
            )
        audit(s, at(19, 10, 3), ids[104], "proses_selesai", process.id)


def pdf_text(data: bytes) -> str:
    pages = PdfReader(io.BytesIO(data)).pages
    return " ".join(" ".join(page.extract_text() for page in pages).split())


async def test_riwayat_shows_working_time_revisions_documents_and_the_chain_head(rt) -> None:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        process = await s.get(Process, 1)
        h = await records.history(rt, s, process, rt.sops.get(LAKIP), rt.clock.now())
        (head_id, head_hash) = await records.chain_head(s)
    assert len(h.steps) == len(STEPS) and len(h.documents) == len(DOCS)
    review = next(r for r in h.steps if r.step_no == 6)
    assert review.worked_minutes == 120 and not review.late
    assert [s.round for s in h.steps if s.step_no == 8] == [0, 1]
    text = pdf_text(record_files.render_riwayat(h)[0])
    assert "Pemeriksaan dan paraf Jafung" in text and "2 jam / 2 hari" in text
    assert "14 Agu 15.00 WITA" in text and "18 Agu 08.30 WITA" in text
    assert "Capaian sasaran 2 belum ada." in text
    assert "Draf LAKIP ke-2 (draft_lakip_v2.pdf)" in text
    assert "Tanda Terima ke-1 (Tanda Terima 2026-08-19.jpg)" in text
    assert "Paraf L6 Pemeriksaan dan paraf Jafung: Pak Jafung" in text
    assert f"baris #{head_id}, SHA-256 {head_hash}" in text


async def test_lembar_disposisi_names_who_forwarded_to_whom(rt) -> None:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        form = await lembar.build(rt, s, await s.get(Process, 1), rt.sops.get(LAKIP))
    hops = [(e.from_name, e.to_names, e.to_role) for e in form.entries]
    assert hops == [
        ("Pak Kadis", ["Bu Sekretaris"], "Sekretaris"),
        ("Bu Sekretaris", ["Pak Jafung"], "Jafung Perencana"),
        ("Pak Jafung", ["Ani Tim Kerja"], "Tim Kerja Perencanaan Program"),
    ]
    assert form.entries[0].catatan == "Segera disusun sesuai Surat Edaran Sekda."
    assert form.entries[1].catatan == "Mohon ditindaklanjuti."
    assert [name for name, _, _ in form.paraf] == ["Pak Kadis", "Bu Sekretaris", "Pak Jafung"]
    assert form.lampiran == "surat_edaran.pdf" and form.sifat == "biasa"


async def test_archive_is_kept_with_the_process_and_made_once(rt) -> None:  # type: ignore[no-untyped-def]
    payload = {"record": "arsip", "process_id": 1, "person_id": 4}
    made = await record_files.make(rt, payload)
    assert made.file_name == "arsip_proses_1.zip"
    assert Path(made.path).is_relative_to(rt.settings.files_dir)
    with zipfile.ZipFile(made.path) as zf:
        names = zf.namelist()
        assert {"riwayat_proses.pdf", "lembar_disposisi.pdf", "peristiwa.csv"} <= set(names)
        assert "dokumen/L10_v1_Tanda_Terima_Tanda_Terima_2026-08-19.jpg" in names, names
        assert zf.read("dokumen/L05_v2_Draf_LAKIP_draft_lakip_v2.pdf") == b"%PDF draft v2"
        assert "LEMBAR DISPOSISI" in pdf_text(zf.read("lembar_disposisi.pdf"))
    again = await record_files.make(rt, payload)
    assert again.path == made.path
    async with rt.sessions() as s:
        kept = await s.scalar(select(func.count()).where(Document.purpose == "arsip"))
    assert kept == 1


async def test_asking_for_the_riwayat_queues_the_files_and_logs_who_asked(rt) -> None:  # type: ignore[no-untyped-def]
    from bot.people import find_actor

    async with rt.sessions.begin() as s:
        actor = await find_actor(s, 102, rt.clock.now(), [])
        reply = await record_files.request_riwayat(rt, s, rt.clock.now(), actor, 1)
    assert "Riwayat" in reply.text
    async with rt.sessions() as s:
        queued = (
            await s.execute(select(Outbox.payload).where(Outbox.method == "send_record"))
        ).all()
    assert [p["record"] for (p,) in queued] == ["riwayat_pdf", "riwayat_png"]


async def test_tanda_terima_register(rt) -> None:  # type: ignore[no-untyped-def]
    async with rt.sessions() as s:
        (row,) = await records.tanda_terima(rt, s)
    assert (row.process_id, row.sop_short, row.uploaded_by) == (1, "370", "Ani Tim Kerja")
    assert row.label == "Tanda Terima ke-1 (Tanda Terima 2026-08-19.jpg)"


async def test_rekap_figures_from_the_database(rt) -> None:  # type: ignore[no-untyped-def]
    sops, period = rekap.parse_args(rt, ["370", "2026-08"], rt.clock.now())
    async with rt.sessions() as s:
        result = await rekap.compute(rt, s, sops, period, rt.clock.now())
    (sop,) = result.sops
    assert (sop.processes, sop.finished) == (1, 1)
    kadis = next(st for st in sop.steps if st.step_no == 8)
    assert (kadis.count, kadis.revisions, kadis.revisions_per_process) == (2, 1, 1.0)
    assert (kadis.median, kadis.maximum) == (45, 60)
    text = rekap.summary(rt, result, period)
    assert "1 Agustus 2026 – 31 Agustus 2026" in text and "1 proses (1 selesai)" in text


def cli(rt: Runtime, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DATABASE_URL": rt.settings.database_url,
        "TELEGRAM_BOT_TOKEN": "1:x",
        "WORK_CALENDAR": "office",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_command_line_writes_the_files(rt, tmp_path) -> None:  # type: ignore[no-untyped-def]
    book, pdf, png = tmp_path / "rekap.xlsx", tmp_path / "r.pdf", tmp_path / "r.png"
    done = cli(rt, "rekap", "--dari", "2026-01-01", "--sampai", "2026-12-31", "--xlsx", str(book))
    assert done.returncode == 0, done.stderr
    assert "1 proses (1 selesai)" in done.stdout
    wb = load_workbook(book)
    assert wb.sheetnames == ["Ringkasan", "SOP 370", "Peristiwa"]
    assert wb["Peristiwa"].max_row == 1 + len(STEPS)
    done = cli(rt, "riwayat", "1", "--pdf", str(pdf), "--png", str(png))
    assert done.returncode == 0, done.stderr
    assert "Capaian sasaran 2 belum ada." in pdf_text(pdf.read_bytes())
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert cli(rt, "riwayat", "99", "--pdf", str(pdf)).returncode == 1
    listed = cli(rt, "arsip", "list")
    assert listed.returncode == 0 and "Tanda Terima ke-1" in listed.stdout
    assert "#1\t" in listed.stdout


def test_periods_people_can_type() -> None:
    settings = Settings(telegram_bot_token="1:x", _env_file=None)
    rt = Runtime.build(settings, None, FakeClock(at(20, 9)))  # type: ignore[arg-type]
    now = rt.clock.now()
    assert rekap.parse_args(rt, [], now)[1] == records.Period(
        at(1, 0).date().replace(month=1), at(1, 0).date().replace(month=12, day=31)
    )
    sops, period = rekap.parse_args(rt, ["2026-02", "371"], now)
    assert [s.short for s in sops] == ["371"]
    assert (period.start.isoformat(), period.end.isoformat()) == ("2026-02-01", "2026-02-28")
    _, period = rekap.parse_args(rt, ["2026-03-01..2026-03-15"], now)
    assert period.end - period.start == timedelta(days=14)
    for bad in (["2026-13"], ["kemarin"], ["2026-03-15..2026-03-01"]):
        with pytest.raises(Exception, match="/rekap"):
            rekap.parse_args(rt, bad, now)


async def test_the_office_fields_of_issue_9_fill_the_form(rt) -> None:  # type: ignore[no-untyped-def]
    """Nomor agenda, sifat and a disposisi's named recipients and instruksi (the
    `dispositions` table) take the place of what the steps alone can tell."""
    from bot.records.pdf import lembar_pdf
    from storage.models import Disposition

    async with rt.sessions.begin() as s:
        process = await s.get(Process, 1)
        process.nomor_agenda, process.sifat = "370/007/2026", "sangat_segera"
        hop = await s.scalar(select(StepInstance).where(StepInstance.step_no == 2))
        s.add(
            Disposition(
                process_id=1,
                step_instance_id=hop.id,
                from_person_id=2,
                to_role="jafung",
                to_person_ids=[3],
                instruksi=["Segera diproses", "Koordinasikan"],
                catatan="Paling lambat Jumat.",
                created_at=hop.finished_at,
            )
        )
    async with rt.sessions() as s:
        form = await lembar.build(rt, s, await s.get(Process, 1), rt.sops.get(LAKIP))
    assert form.entries[1].instruksi == ["Segera diproses", "Koordinasikan"]
    assert form.entries[1].catatan == "Paling lambat Jumat."
    assert form.entries[0].instruksi == []  # the others keep what the steps say
    text = pdf_text(lembar_pdf(form))
    assert "370/007/2026" in text and "[X] Sangat Segera" in text and "[ ] Segera" in text
    assert "• Segera diproses" in text
