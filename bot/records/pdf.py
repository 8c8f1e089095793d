"""PDFs to print: the riwayat of a process and the lembar disposisi (fpdf2, A4).

Fonts are the DejaVu TTFs matplotlib ships (a pinned dependency), so Indonesian text and
symbols render the same on every machine, whatever fonts the OS has."""

from __future__ import annotations

import logging
from datetime import datetime
from io import BytesIO
from pathlib import Path

import matplotlib
from fpdf import FPDF
from fpdf.fonts import FontFace

from bot.records.model import LembarDisposisi, ProcessHistory
from bot.texts import records as t

logging.getLogger("fontTools").setLevel(logging.WARNING)  # one INFO line per font table
_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_GREY = (230, 230, 230)
_RED = (180, 0, 0)


class _Doc(FPDF):
    def __init__(self, unit_name: str, footer_text: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(True, margin=15)
        self.unit_name = unit_name
        self.footer_text = footer_text

    def header(self) -> None:
        self.set_font("DejaVu", "B", 10)
        self.cell(0, 5, t.KOP, align="C", new_x="LMARGIN", new_y="NEXT")
        self.cell(0, 5, self.unit_name, align="C", new_x="LMARGIN", new_y="NEXT")
        self.line(self.l_margin, self.get_y() + 1, self.w - self.r_margin, self.get_y() + 1)
        self.ln(4)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.cell(0, 4, self.footer_text, align="L")
        self.cell(0, 4, t.page_footer(self.page_no()), align="R")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("DejaVu", "B", 10)
        self.cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        self.set_font("DejaVu", "", 8)

    def grid(self, head: tuple[str, ...], rows: list[list[str]], widths: tuple[int, ...]) -> None:
        """A table that wraps long cells and repeats its heading on a new page; cells that
        start with the late mark are printed red."""
        self.set_font("DejaVu", "", 8)
        heading = FontFace(emphasis="BOLD", fill_color=_GREY)
        with self.table(
            col_widths=widths, line_height=4, headings_style=heading, text_align="LEFT"
        ) as table:
            table.row(list(head))
            for values in rows:
                row = table.row()
                for value in values:
                    late = value.startswith(t.LATE_MARK)
                    row.cell(value, style=FontFace(color=_RED) if late else None)


def _new(unit: str, printed_at: datetime, tz: str, title: str) -> _Doc:
    doc = _Doc(unit, t.printed_on(printed_at, tz))
    doc.set_creation_date(printed_at)
    doc.set_title(title)
    doc.set_author("Bot Disposisi SOP")
    doc.add_page()
    return doc


def riwayat_pdf(h: ProcessHistory, chart_png: bytes | None = None) -> bytes:
    """Every step with who, when (WITA), working time against the Mutu Baku, revision
    rounds with their notes, paraf, every document version, the process's audit rows and
    the chain head of the whole log."""
    tz, day = h.tz, h.day_minutes
    doc = _new(h.unit, h.printed_at, tz, f"{t.RIWAYAT_TITLE} #{h.process_id}")
    doc.set_font("DejaVu", "B", 13)
    doc.cell(0, 7, t.RIWAYAT_TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    doc.set_font("DejaVu", "", 11)
    doc.multi_cell(0, 6, t.riwayat_subtitle(h.process_id, h.title), align="C")
    doc.ln(2)
    doc.set_font("DejaVu", "", 9)
    facts = t.riwayat_facts(
        h.sop_number,
        h.sop_title,
        h.starter,
        t.full_stamp(h.created_at, tz),
        t.full_stamp(h.finished_at, tz),
        h.status,
    )
    if h.arahan:
        facts.append(("Arahan", h.arahan))
    for label, value in facts:
        doc.set_font("DejaVu", "B", 9)
        doc.cell(32, 5, label)
        doc.set_font("DejaVu", "", 9)
        doc.multi_cell(0, 5, value, new_x="LMARGIN", new_y="NEXT")

    doc.heading(t.RIWAYAT_STEPS)
    rows = []
    for s in h.steps:
        time_text = f"{t.working(s.worked_minutes, day)} / {s.waktu.lower()}"
        if s.late and not s.open:
            time_text = f"{t.LATE_MARK}: {time_text}"
        round_ = f" (revisi ke-{s.round})" if s.round else ""
        rows.append(
            [
                str(s.step_no),
                f"{s.label}{round_}",
                f"{s.role}\n{s.actor or ''}".strip(),
                t.stamp(s.started_at, tz),
                t.stamp(s.finished_at, tz),
                time_text,
                t.outcome(s.outcome) + (f": {s.note}" if s.note else ""),
            ]
        )
    doc.grid(t.RIWAYAT_STEP_HEAD, rows, (8, 36, 28, 22, 22, 30, 44))

    doc.heading(t.RIWAYAT_REVISIONS)
    if h.revisions:
        doc.grid(
            t.RIWAYAT_REVISION_HEAD,
            [
                [
                    str(r.round),
                    f"L{r.from_step}",
                    f"L{r.to_step}",
                    r.reviewer,
                    t.stamp(r.at, tz),
                    r.note,
                ]
                for r in h.revisions
            ],
            (10, 12, 18, 30, 24, 96),
        )
    else:
        doc.cell(0, 5, t.NONE_YET, new_x="LMARGIN", new_y="NEXT")

    doc.heading(t.RIWAYAT_PARAF)
    if h.paraf:
        for s in h.paraf:
            what = "Tanda tangan" if s.kind == "tanda_tangan" else "Paraf"
            at = t.full_stamp(s.finished_at, tz)
            line = f"{what} L{s.step_no} {s.label}: {s.actor or '-'}, {at}"
            doc.cell(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    else:
        doc.cell(0, 5, t.NONE_YET, new_x="LMARGIN", new_y="NEXT")

    doc.heading(t.RIWAYAT_DOCS)
    if h.documents:
        doc.grid(
            t.RIWAYAT_DOC_HEAD,
            [
                [f"L{d.step_no}", d.label, d.uploaded_by, t.stamp(d.at, tz), d.sha256[:16] + "…"]
                for d in h.documents
            ],
            (16, 76, 30, 24, 44),
        )
    else:
        doc.cell(0, 5, t.NONE_YET, new_x="LMARGIN", new_y="NEXT")

    if chart_png:
        doc.add_page()
        doc.heading(t.RIWAYAT_CHART)
        doc.image(BytesIO(chart_png), w=doc.epw)

    doc.heading(t.RIWAYAT_EVENTS)
    doc.grid(
        t.RIWAYAT_EVENT_HEAD,
        [
            [
                str(e.id),
                t.stamp(e.at, tz),
                e.who,
                t.action(e.action),
                f"L{e.step_no}" if e.step_no else "",
                e.detail or "",
            ]
            for e in h.events
        ],
        (12, 24, 30, 30, 16, 78),
    )
    doc.ln(3)
    doc.set_font("DejaVu", "", 7)
    head_id, head_hash = h.chain_head
    doc.multi_cell(
        0, 4, t.chain_head(head_id, head_hash, t.full_stamp(h.printed_at, tz)), align="L"
    )
    return bytes(doc.output())


def lembar_pdf(form: LembarDisposisi) -> bytes:
    """The classic one-page form: agenda number, date, SOP, perihal, sifat, then each hop of
    the disposisi (from, to, instruksi, catatan) and the paraf with names and times."""
    tz = form.tz
    doc = _new(form.unit, form.tanggal, tz, f"{t.LEMBAR_TITLE} #{form.process_id}")
    doc.set_font("DejaVu", "B", 13)
    doc.cell(0, 8, t.LEMBAR_TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    doc.ln(2)
    sifat = "   ".join(
        f"[{'X' if code == form.sifat else ' '}] {name}" for code, name in t.SIFAT.items()
    )
    values = (
        form.nomor_agenda or t.LEMBAR_BLANK,
        t.full_stamp(form.tanggal, tz),
        f"{form.sop_title} ({form.sop_number})",
        form.title,
        form.nomor_naskah or t.LEMBAR_BLANK,
        form.lampiran or "-",
        sifat,
    )
    doc.set_font("DejaVu", "", 9)
    with doc.table(
        col_widths=(40, 150), line_height=6, first_row_as_headings=False, text_align="LEFT"
    ) as table:
        for label, value in zip(t.LEMBAR_FIELDS, values, strict=True):
            row = table.row()
            row.cell(label, style=FontFace(emphasis="BOLD"))
            row.cell(value)
    doc.ln(4)
    rows = []
    for e in form.entries:
        what = "\n".join(f"• {i}" for i in e.instruksi)
        if e.catatan:
            what = f"{what}\n{e.catatan}".strip()
        rows.append(
            [
                f"{e.from_name}\n({e.from_role})",
                f"{', '.join(e.to_names) or '-'}\n({e.to_role})",
                what or "-",
                t.stamp(e.at, tz),
            ]
        )
    doc.grid(t.LEMBAR_HEAD, rows, (40, 45, 75, 30))
    doc.heading(t.LEMBAR_PARAF)
    doc.grid(
        t.LEMBAR_PARAF_HEAD,
        [[name, role, t.full_stamp(at, tz)] for name, role, at in form.paraf],
        (60, 60, 70),
    )
    return bytes(doc.output())
