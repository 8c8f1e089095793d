"""An SOP definition as typed data: the national SOP table (Permenpan RB 35/2012) plus the
few things the bot needs to run it (step kind, revision target, chain of superiors)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.workflow.calendar import Waktu, parse_waktu


class Kind(StrEnum):
    DISPOSISI = "disposisi"  # receive / forward, optional note
    TUGAS = "tugas"  # a task closed with Selesai
    UNGGAH = "unggah"  # closed by uploading a document
    KUMPUL = "kumpul"  # data collection with a checklist of bidang
    PERIKSA = "periksa"  # review: Setuju or Revisi
    TANDA_TANGAN = "tanda_tangan"  # like periksa; approval is the signature

    @property
    def is_review(self) -> bool:
        return self in (Kind.PERIKSA, Kind.TANDA_TANGAN)


DOCUMENT_TYPES = ("pdf", "doc", "docx", "xls", "xlsx", "odt", "ods")
IMAGE_TYPES = ("jpg", "jpeg", "png")
KNOWN_TYPES = DOCUMENT_TYPES + IMAGE_TYPES


class SopRuleError(Exception):
    """A rule that spans fields, with the place it points at (not a ValueError, so pydantic
    lets it through and the loader can name the line)."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$")
    name: str = Field(min_length=1)
    superior: str | None = None  # who is told when this role's step runs far past its time


class Step(_Strict):
    no: int = Field(ge=1)
    kegiatan: str = Field(min_length=1)
    role: str
    kelengkapan: str = ""
    waktu: str
    output: str = ""
    kind: Kind
    revisi_ke: int | None = None  # review steps: the drafting step a revision goes back to
    # review steps: after a revision here, the new version passes again through the review
    # (paraf) steps in between; false: it comes straight back to this reviewer.
    paraf_ulang: bool = True
    keterangan: str = ""
    label: str = ""  # a short name for cards and /status, e.g. "Paraf Sekretaris"
    dokumen: str = ""  # unggah steps: what the file is, e.g. "Draf LAKIP" ("Draf LAKIP ke-2")
    # unggah steps: which file types close the step (images only where the SOP wants a photo)
    berkas: tuple[str, ...] = DOCUMENT_TYPES
    # unggah steps: the uploaded document must be signed by this role before the step is
    # done (LAKIP step 9: the surat pengantar, signed by the Kadis); see `SopDefinition.phase`.
    ttd_oleh: str | None = None
    ttd_label: str = ""  # the signing on cards, e.g. "Tanda tangan surat pengantar"
    # Signatures (tanda_tangan steps, and the signing turn of a ttd_oleh upload): another
    # role who may send the signed PDF for the signer, e.g. the Jafung scanning what the
    # Kadis signed on paper. Only the signer may ask for a revision.
    pindai_oleh: str | None = None

    @field_validator("waktu")
    @classmethod
    def _waktu_parses(cls, value: str) -> str:
        parse_waktu(value)
        return value

    @field_validator("berkas")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v.lower() not in KNOWN_TYPES]
        if unknown or not value:
            raise ValueError(f"jenis berkas harus dari: {', '.join(KNOWN_TYPES)}")
        return tuple(v.lower() for v in value)

    @property
    def short(self) -> str:
        if self.label:
            return self.label
        words, out = self.kegiatan.split(), ""
        for word in words:
            if len(out) + len(word) > 40:
                return out + "…"
            out = f"{out} {word}".strip()
        return out

    @property
    def document_kind(self) -> str:
        return self.dokumen or self.output or f"Dokumen langkah {self.no}"

    @property
    def accepts_images(self) -> bool:
        return any(t in IMAGE_TYPES for t in self.berkas)

    @property
    def scanner(self) -> str | None:
        """Who may send the signed scan for the signer: `pindai_oleh`, on a sign step only
        (an upload's `pindai_oleh` is for its signing turn, not for the upload)."""
        return self.pindai_oleh if self.kind is Kind.TANDA_TANGAN else None

    @property
    def waktu_parsed(self) -> Waktu:
        return parse_waktu(self.waktu)


class Dates(_Strict):
    pembuatan: dt.date | None = None
    revisi: dt.date | None = None
    efektif: dt.date | None = None


class SopDefinition(_Strict):
    number: str = Field(min_length=1)
    title: str = Field(min_length=1)
    nama_singkat: str = ""  # used in suggested process titles, e.g. "LAKIP Tahun 2026"
    unit: str = ""
    tanggal: Dates = Dates()
    disahkan_oleh: str = ""
    dasar_hukum: list[str] = []
    kualifikasi: list[str] = []
    keterkaitan: list[str] = []
    peralatan: list[str] = []
    peringatan: str = ""
    pencatatan: list[str] = []
    roles: list[Role] = Field(min_length=1)
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SopDefinition:
        codes = [r.code for r in self.roles]
        for i, role in enumerate(self.roles):
            if codes.count(role.code) > 1:
                raise SopRuleError(("roles", i, "code"), f"kode peran '{role.code}' ganda")
            if role.superior is not None and role.superior not in codes:
                raise SopRuleError(
                    ("roles", i, "superior"), f"atasan '{role.superior}' tidak ada di daftar roles"
                )
        for i, step in enumerate(self.steps):
            if step.no != i + 1:
                raise SopRuleError(
                    ("steps", i, "no"), f"nomor langkah harus berurutan mulai 1 (harusnya {i + 1})"
                )
            if step.role not in codes:
                raise SopRuleError(
                    ("steps", i, "role"), f"peran '{step.role}' tidak ada di daftar roles"
                )
            if step.kind.is_review:
                if step.revisi_ke is None:
                    raise SopRuleError(
                        ("steps", i, "kind"), f"langkah {step.kind.value} wajib punya revisi_ke"
                    )
                if not 1 <= step.revisi_ke < step.no:
                    raise SopRuleError(
                        ("steps", i, "revisi_ke"), "revisi_ke harus nomor langkah sebelumnya"
                    )
                if self.steps[step.revisi_ke - 1].kind is not Kind.UNGGAH:
                    raise SopRuleError(
                        ("steps", i, "revisi_ke"), "revisi_ke harus menunjuk langkah unggah"
                    )
            elif step.revisi_ke is not None:
                raise SopRuleError(
                    ("steps", i, "revisi_ke"), "revisi_ke hanya untuk langkah periksa/tanda_tangan"
                )
            if step.ttd_oleh is not None:
                where = ("steps", i, "ttd_oleh")
                if step.kind is not Kind.UNGGAH:
                    raise SopRuleError(where, "ttd_oleh hanya untuk langkah unggah")
                if step.ttd_oleh not in codes:
                    raise SopRuleError(where, f"peran '{step.ttd_oleh}' tidak ada di daftar roles")
                if step.ttd_oleh == step.role:
                    raise SopRuleError(where, "penanda tangan harus peran lain dari pengunggah")
            if step.pindai_oleh is not None:
                where = ("steps", i, "pindai_oleh")
                signer = step.ttd_oleh or step.role
                if step.kind is not Kind.TANDA_TANGAN and step.ttd_oleh is None:
                    raise SopRuleError(where, "pindai_oleh hanya untuk langkah yang ditandatangani")
                if step.pindai_oleh not in codes:
                    raise SopRuleError(
                        where, f"peran '{step.pindai_oleh}' tidak ada di daftar roles"
                    )
                if step.pindai_oleh == signer:
                    raise SopRuleError(where, "pemindai harus peran lain dari penanda tangan")
        return self

    @property
    def short(self) -> str:
        """The middle part of a number like 000.8.3.3/370/100.14, which people say aloud."""
        parts = [p.strip() for p in self.number.split("/")]
        return parts[1] if len(parts) >= 3 else self.number

    def step(self, no: int) -> Step:
        return self.steps[no - 1]

    def phase(self, no: int, role: str | None) -> Step:
        """The step as the one holding it now sees it. An unggah step that needs a signature
        (`ttd_oleh`) has two turns: the uploader's, then the signer's, which is a sign step on
        that upload (🖋 with the signed PDF, or ✏️ back to the uploader)."""
        step = self.step(no)
        if step.ttd_oleh is None or role != step.ttd_oleh:
            return step
        return step.model_copy(
            update={
                "role": step.ttd_oleh,
                "kind": Kind.TANDA_TANGAN,
                "revisi_ke": no,
                "label": step.ttd_label or step.label,
                "berkas": ("pdf",),
                "ttd_oleh": None,
            }
        )

    def is_paraf(self, no: int) -> bool:
        """A review whose document is signed later in the SOP: approving it is a paraf."""
        step = self.step(no)
        return step.kind is Kind.PERIKSA and any(
            s.kind is Kind.TANDA_TANGAN and s.revisi_ke == step.revisi_ke for s in self.steps[no:]
        )

    def role(self, code: str) -> Role:
        return next(r for r in self.roles if r.code == code)

    def matches(self, key: str) -> bool:
        key = key.replace(" ", "")
        return key in (self.number.replace(" ", ""), self.short)
