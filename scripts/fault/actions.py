"""What a person does at each step (the updates of one process) and which answer shows that
it took effect. A mixin of `FaultRun` (it reads the chats and the database through it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from scripts.fault.common import KADIS, Action, Msg, _labels, _text
from scripts.fault.plan import LAKIP, ProcessRun, Visit
from tests.e2e.conftest import PEOPLE
from tests.e2e.test_sop_flows import BIDANG
from tests.samples import sample


class Actions:
    def actions(self, run: ProcessRun) -> list[Action]:
        out = self._mulai(run)
        for i, v in enumerate(run.visits):
            nxt = run.visits[i + 1] if i + 1 < len(run.visits) else None
            if nxt is None:
                done: Callable[[], object | None] = lambda: self.finished(run)  # noqa: E731
            else:
                done = lambda n=nxt: self.card(run, n)  # noqa: E731
            out += self._visit(run, v, done)
        return out

    def _mulai(self, run: ProcessRun) -> list[Action]:
        kadis = self.user(KADIS)
        title = run.title
        seen: dict[str, Msg] = {}

        def prompt(*stems: str, key: str = "") -> Callable[[], Awaitable[Msg]]:
            """The next question of /mulai: a new message (or edit) mentioning one of `stems`
            (in its text or its buttons; the wording may change, the subject does not)."""

            def asks(m: Msg) -> bool:
                words = " ".join([_text(m), *_labels(m)]).lower()
                return any(stem in words for stem in stems)

            async def answer() -> Msg:
                msg = await self.until(
                    f"{title}: the question about {stems!r}", lambda: self.fresh(KADIS, asks)
                )
                seen[key] = msg
                return msg

            return answer

        async def press_sop() -> None:
            await kadis.press(seen["menu"], run.sop.number)

        def asks_sifat() -> bool:
            return "sifat" in _text(seen["judul"]).lower()

        async def press_sifat() -> None:
            """Where /mulai asks the sifat of the disposisi (office practice): Biasa."""
            if asks_sifat():
                await kadis.press(seen["judul"], "Biasa")

        async def sifat_answer() -> Msg:
            return await prompt("arahan")() if asks_sifat() else seen["judul"]

        surat = sample("surat_edaran_sekda.pdf", f"%PDF-1.4 surat edaran {title}")

        async def send_surat() -> None:
            await kadis.send_document(surat, "surat_edaran_sekda.pdf")

        def started() -> Msg | None:
            if run.process_id is None:
                rows = self.q("select id from processes where title = ?", (title,))
                if not rows:
                    return None
                run.process_id = rows[0][0]
            return self.card(run, run.visits[0])

        async def surat_answer() -> Msg:
            return await self.until_after_upload(
                f"{title}: Surat Edaran", KADIS, send_surat, started
            )

        return [
            Action("/mulai", KADIS, lambda: kadis.send("/mulai"), prompt("sop", key="menu")),
            Action(f"SOP {run.sop.number}", KADIS, press_sop, prompt("judul")),
            Action(
                "judul", KADIS, lambda: kadis.send(title), prompt("sifat", "arahan", key="judul")
            ),
            Action("sifat", KADIS, press_sifat, sifat_answer),
            Action(
                "arahan",
                KADIS,
                lambda: kadis.send("Mohon segera disusun sesuai Surat Edaran Sekda."),
                prompt("surat edaran"),
            ),
            Action("Surat Edaran (file)", KADIS, send_surat, surat_answer, closes=True),
        ]

    def _visit(self, run: ProcessRun, v: Visit, done: Callable[[], object | None]) -> list[Action]:
        title, user = run.title, self.user(v.actor)
        label = f"{PEOPLE[v.actor][0]}: Langkah {v.no}" + (" (lagi)" if v.occurrence else "")
        what = f"{title}: {label}"

        def current_card() -> Msg:
            msg = self.card(run, v)
            if msg is None:
                raise RuntimeError(f"{what}: the card vanished")
            return msg

        async def press(button: str) -> None:
            card = current_card()
            if button == "Selesai" and v.kind == "disposisi":
                # The one-tap forward to everyone of the next role: Teruskan (or Selesai).
                labels = _labels(card)
                button = next((x for x in labels if "Teruskan" in x), button)
            await user.press(card, button)

        async def answer() -> object:
            return await self.until(what, done)

        if v.kind in ("disposisi", "tugas") or v.outcome in ("disetujui", "paraf"):
            button = "Selesai" if v.outcome == "selesai" else "Setuju"
            return [Action(f"{label} {button}", v.actor, lambda: press(button), answer, True)]

        if v.outcome == "ditandatangani":
            return self._sign(run, v, what, label, press, done)

        if v.kind == "kumpul":
            out = []
            for bidang in BIDANG:

                async def tick_answer(b: str = bidang) -> object:
                    card_id = current_card()["message_id"]

                    def ticked() -> bool | None:
                        m = user.message(card_id)
                        return True if f"✅ {b}" in _labels(m) or f"✅ {b}" in _text(m) else None

                    return await self.until(f"{what}: ✅ {b}", ticked)

                out.append(
                    Action(
                        f"{label} ✅ {bidang}",
                        v.actor,
                        lambda b=bidang: press(b),
                        tick_answer,
                    )
                )
            out.append(Action(f"{label} Selesai", v.actor, lambda: press("Selesai"), answer, True))
            return out

        if v.kind == "unggah":
            ext = {5: "docx", 8: "pdf"}.get(v.no, "pdf")
            tag = f"{title} langkah {v.no} versi {v.occurrence + 1}"
            data = sample(f"x.{ext}", tag)
            if v.no in run.sop.drafts:
                run.final = data  # visits are in order: the last draft wins
            photo = run.sop is LAKIP and v.no == 10 and run.receipt_photo

            async def upload() -> None:
                if photo:
                    await user.send_photo(sample("x.jpg", tag))
                else:
                    await user.send_document(data, f"langkah{v.no}_v{v.occurrence + 1}.{ext}")

            async def upload_answer() -> object:
                return await self.until_after_upload(what, v.actor, upload, done)

            kind = "foto" if photo else ext
            return [Action(f"{label} unggah ({kind})", v.actor, upload, upload_answer, True)]

        # A revision: press Revisi, wait for the prompt (a new message asking for the
        # revision note), then send the note.
        def revision_prompt(m: Msg) -> bool:
            text = _text(m)
            return not text.startswith("📋") and "revisi" in text.lower()

        note = f"Catatan revisi {title}: lengkapi analisis capaian (langkah {v.no})."

        async def prompt() -> object:
            return await self.until(f"{what}: prompt", lambda: self.fresh(v.actor, revision_prompt))

        async def revise_note() -> None:
            if run.note_as_file:
                await user.send_document(
                    sample("koreksi.pdf", f"koreksi {title}"), "koreksi.pdf", caption=note
                )
            else:
                await user.send(note)

        async def note_answer() -> object:
            if run.note_as_file:
                return await self.until_after_upload(what, v.actor, revise_note, done)
            return await self.until(what, done)

        how = "file" if run.note_as_file else "teks"
        return [
            Action(f"{label} Revisi", v.actor, lambda: press("Revisi"), prompt),
            Action(f"{label} catatan revisi ({how})", v.actor, revise_note, note_answer, True),
        ]

    def _sign(self, run: ProcessRun, v: Visit, what: str, label: str, press, done):  # type: ignore[no-untyped-def]
        """Tanda tangani, then the signed PDF (its caption the nomor naskah): the final
        document everyone gets at the end."""
        user = self.user(v.actor)
        signed = sample("ttd.pdf", f"{run.title} langkah {v.no} ditandatangani")
        if run.sop.steps[v.no][1] == "tanda_tangan":  # not a signed upload (surat pengantar)
            run.final = signed

        def asks_pdf(m: Msg) -> bool:
            return not _text(m).startswith("📋") and "pdf naskah" in _text(m).lower()

        async def pdf_prompt() -> object:
            return await self.until(f"{what}: prompt", lambda: self.fresh(v.actor, asks_pdf))

        async def upload() -> None:
            await user.send_document(signed, "naskah_ttd.pdf", caption=f"000.8.3.3/{v.no}/100.14")

        async def upload_answer() -> object:
            return await self.until_after_upload(what, v.actor, upload, done)

        return [
            Action(f"{label} Tanda tangani", v.actor, lambda: press("Tanda tangani"), pdf_prompt),
            Action(f"{label} naskah bertanda tangan (PDF)", v.actor, upload, upload_answer, True),
        ]
