"""SOP definitions: the two built-in SOPs match DESIGN.md's tables, the registry finds them
by number, SOP_DIR extends or overrides them, and a broken file names its line and field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.sop.loader import SopFileError, SopRegistry, load_file, parse_sop
from bot.sop.model import Kind, SopDefinition

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
BUILTINS = SopRegistry.load()

# A small valid SOP. The malformed-file tests change one of its lines; the legend under it
# gives the line numbers (counted from 1), and `_edit` checks the line really is the one meant.
VALID = """\
number: "000.1/999/1"
title: SOP Contoh
roles:
  - {code: staf, name: Staf, superior: kasubag}
  - {code: kasubag, name: Kepala Sub Bagian}
steps:
  - no: 1
    kegiatan: Memberikan tugas
    role: kasubag
    waktu: 5 Menit
    kind: disposisi
  - no: 2
    kegiatan: Menyusun draft
    role: staf
    waktu: 1 Hari
    kind: unggah
  - no: 3
    kegiatan: Memeriksa draft
    role: kasubag
    waktu: 1 Jam
    kind: periksa
    revisi_ke: 2
  - no: 4
    kegiatan: Mengarsipkan
    role: staf
    waktu: 5 Menit
    kind: tugas
"""
# line  4: staf role          line 17: "  - no: 3"       line 23: "  - no: 4"
# line 16: step 2 kind        line 21: step 3 kind        line 24: step 4 kegiatan
# line 20: step 3 waktu       line 22: step 3 revisi_ke   line 25/26/27: step 4 role/waktu/kind


def _edit(line_no: int, old: str, new: str | None) -> str:
    """VALID with line `line_no` replaced by `new` (which may hold two lines; None deletes)."""
    lines = VALID.splitlines()
    assert lines[line_no - 1] == old, f"line {line_no} is {lines[line_no - 1]!r}"
    lines[line_no - 1 : line_no] = [] if new is None else new.split("\n")
    return "\n".join(lines) + "\n"


def _error(text: str) -> SopFileError:
    with pytest.raises(SopFileError) as caught:
        parse_sop(text, Path("x.yaml"))
    return caught.value


def _get(registry: SopRegistry, key: str) -> SopDefinition:
    sop = registry.get(key)
    assert sop is not None, f"SOP {key} not found"
    return sop


# --- the built-in SOPs are DESIGN.md's tables --------------------------------------------

# (no, a phrase of the kegiatan, pelaksana, waktu, kind, revisi_ke)
PELAPORAN_KINERJA_371 = [
    (1, "tugas dan arahan", "kadis", "5 menit", Kind.DISPOSISI, None),
    (2, "menerima tugas dan arahan", "sekretaris", "5 menit", Kind.DISPOSISI, None),
    (3, "koordinasi dengan tim kerja", "jafung", "5 menit", Kind.DISPOSISI, None),
    (4, "mengumpulkan bahan/data", "tim_kerja", "1 hari", Kind.KUMPUL, None),
    (5, "menyusun draft", "tim_kerja", "1 hari", Kind.UNGGAH, None),
    (6, "memeriksa draft", "jafung", "1 jam", Kind.PERIKSA, 5),
    (7, "memeriksa draft", "sekretaris", "1 jam", Kind.PERIKSA, 5),
    (8, "menyusun dokumen", "tim_kerja", "1 jam", Kind.UNGGAH, None),
    (9, "memaraf", "sekretaris", "5 menit", Kind.PERIKSA, 8),
    (10, "menandatangani", "kadis", "5 menit", Kind.TANDA_TANGAN, 8),
    (11, "mengarsipkan", "tim_kerja", "1 jam", Kind.TUGAS, None),
]

LAKIP_370 = [
    (1, "arahan untuk menyusun lakip", "kadis", "5 menit", Kind.DISPOSISI, None),
    (2, "kepada jafung", "sekretaris", "5 menit", Kind.DISPOSISI, None),
    (3, "menerima disposisi", "jafung", "5 menit", Kind.DISPOSISI, None),
    (4, "mengumpulkan data", "tim_kerja", "2 hari", Kind.KUMPUL, None),
    (5, "menyusun lakip", "tim_kerja", "5 hari", Kind.UNGGAH, None),
    (6, "memeriksa draft", "jafung", "2 hari", Kind.PERIKSA, 5),
    (7, "memeriksa draf", "sekretaris", "2 hari", Kind.PERIKSA, 5),
    (8, "ditandatangani", "kadis", "2 hari", Kind.TANDA_TANGAN, 5),
    (9, "surat pengantar", "jafung", "1 hari", Kind.UNGGAH, None),
    (10, "bagian organisasi setda", "tim_kerja", "30 menit", Kind.UNGGAH, None),
    (11, "mengarsipkan", "tim_kerja", "5 menit", Kind.TUGAS, None),
]


@pytest.mark.parametrize(
    ("key", "number", "title", "table"),
    [
        ("371", "000.8.3.3/371/100.14", "Penyusunan Pelaporan Kinerja", PELAPORAN_KINERJA_371),
        ("370", "000.8.3.3/370/100.14", "(LAKIP)", LAKIP_370),
    ],
)
def test_builtin_sop_matches_the_design_table(
    key: str, number: str, title: str, table: list[tuple]
) -> None:
    sop = _get(BUILTINS, key)
    assert sop.number == number
    assert title in sop.title
    assert len(sop.steps) == 11

    actual = [(s.no, s.role, s.waktu.lower(), s.kind, s.revisi_ke) for s in sop.steps]
    expected = [(no, role, waktu, kind, revisi) for no, _, role, waktu, kind, revisi in table]
    assert actual == expected
    for no, phrase, *_ in table:
        assert phrase in sop.step(no).kegiatan.lower(), (no, sop.step(no).kegiatan)
    for step in sop.steps:
        assert step.waktu_parsed.text.lower() == step.waktu.lower()


@pytest.mark.parametrize("key", ["370", "371"])
def test_builtin_roles_and_the_chain_of_superiors(key: str) -> None:
    sop = _get(BUILTINS, key)
    superiors = {r.code: r.superior for r in sop.roles}
    # Tim Kerja -> Jafung -> Sekretaris -> Kadis
    assert superiors == {
        "tim_kerja": "jafung",
        "jafung": "sekretaris",
        "sekretaris": "kadis",
        "kadis": None,
    }
    assert sop.role("kadis").name == "Kepala Dinas"


def test_lakip_receipt_step_accepts_a_photo_and_the_draft_does_not() -> None:
    lakip = _get(BUILTINS, "370")
    assert lakip.step(10).accepts_images  # foto/scan tanda terima
    assert "jpg" in lakip.step(10).berkas
    assert not lakip.step(5).accepts_images  # the draft is a document
    assert "docx" in lakip.step(5).berkas


# --- numbers: short form and lookup ------------------------------------------------------


def test_short_number_and_matching() -> None:
    lakip = _get(BUILTINS, "370")
    assert lakip.short == "370"
    assert lakip.matches("370")
    assert lakip.matches("000.8.3.3/370/100.14")
    assert lakip.matches(" 000.8.3.3 / 370 / 100.14 ")
    assert not lakip.matches("371")
    assert not lakip.matches("37")
    assert not lakip.matches("100.14")
    assert _get(BUILTINS, "371").short == "371"


def test_a_number_without_slashes_is_its_own_short_form() -> None:
    sop = parse_sop(VALID.replace('number: "000.1/999/1"', "number: SOP-KEU-7"), Path("x.yaml"))
    assert sop.short == "SOP-KEU-7"
    assert sop.matches("SOP-KEU-7")


def test_registry_finds_builtins_by_short_or_full_number() -> None:
    assert [s.short for s in BUILTINS.all()] == ["370", "371"]
    assert _get(BUILTINS, "000.8.3.3/371/100.14").title == "Penyusunan Pelaporan Kinerja"
    assert _get(BUILTINS, "370").nama_singkat == "LAKIP"
    assert BUILTINS.get("999") is None
    assert BUILTINS.get("") is None


# --- SOP_DIR: extra and overriding definitions -------------------------------------------


def test_sop_dir_adds_the_made_up_sop_alongside_the_builtins() -> None:
    registry = SopRegistry.load(extra_dir=FIXTURES)

    assert [s.short for s in registry.all()] == ["370", "371", "999"]
    pengadaan = _get(registry, "999")
    assert pengadaan.title == "Pengadaan Barang Persediaan Kantor"
    assert [s.kind for s in pengadaan.steps] == [
        Kind.TUGAS, Kind.UNGGAH, Kind.PERIKSA, Kind.KUMPUL, Kind.TANDA_TANGAN, Kind.DISPOSISI,
    ]  # fmt: skip
    # staf -> pptk -> kpa, bendahara -> kpa
    assert {r.code: r.superior for r in pengadaan.roles} == {
        "staf": "pptk",
        "bendahara": "kpa",
        "pptk": "kpa",
        "kpa": None,
    }
    codes = registry.role_codes()
    assert {"kadis", "sekretaris", "jafung", "tim_kerja"} <= set(codes)
    assert codes["bendahara"] == "Bendahara Pengeluaran"


def test_a_file_in_sop_dir_with_the_same_number_overrides_the_builtin(tmp_path: Path) -> None:
    # The office corrects LAKIP: data collection gets three days instead of two.
    data = _get(BUILTINS, "370").model_dump(mode="json")
    data["nama_singkat"] = "LAKIP (koreksi kantor)"
    data["steps"][3]["waktu"] = "3 Hari"
    (tmp_path / "lakip_kantor.yml").write_text(yaml.safe_dump(data, allow_unicode=True))

    registry = SopRegistry.load(extra_dir=tmp_path)

    assert [s.short for s in registry.all()] == ["370", "371"]
    lakip = _get(registry, "370")
    assert lakip.nama_singkat == "LAKIP (koreksi kantor)"
    assert lakip.step(4).waktu == "3 Hari"
    assert lakip.step(5) == _get(BUILTINS, "370").step(5)
    assert _get(registry, "371") == _get(BUILTINS, "371")
    assert _get(SopRegistry.load(), "370").step(4).waktu == "2 Hari"  # built-in file untouched


def test_an_override_written_with_spaces_in_the_number_still_overrides(tmp_path: Path) -> None:
    data = _get(BUILTINS, "370").model_dump(mode="json")
    data["number"] = "000.8.3.3 / 370 / 100.14"
    data["nama_singkat"] = "LAKIP (koreksi kantor)"
    (tmp_path / "lakip_kantor.yaml").write_text(yaml.safe_dump(data, allow_unicode=True))

    registry = SopRegistry.load(extra_dir=tmp_path)

    assert _get(registry, "370").nama_singkat == "LAKIP (koreksi kantor)"
    assert len(registry.all()) == 2


def test_a_missing_sop_dir_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SopFileError) as caught:
        SopRegistry.load(extra_dir=tmp_path / "tidak_ada")
    assert caught.value.field == "SOP_DIR"


def test_a_broken_file_in_sop_dir_names_that_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rusak.yaml").write_text(_edit(26, "    waktu: 5 Menit", "    waktu: 2 Bulan"))
    with pytest.raises(SopFileError) as caught:
        SopRegistry.load(extra_dir=tmp_path)
    assert caught.value.path == tmp_path / "rusak.yaml"
    assert str(caught.value).startswith(f"{tmp_path / 'rusak.yaml'}:26: ")
    assert caught.value.field.endswith("waktu")


def test_an_unreadable_file_is_reported_without_a_line(tmp_path: Path) -> None:
    with pytest.raises(SopFileError) as caught:
        load_file(tmp_path / "hilang.yaml")
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{tmp_path / 'hilang.yaml'}: (berkas): ")


def test_load_file_reads_the_fixture() -> None:
    sop = load_file(FIXTURES / "sop_999_pengadaan.yaml")
    assert sop.number == "000.3.2/999/100.14"
    assert sop.step(2).berkas == ("pdf", "xlsx")


# --- malformed files ---------------------------------------------------------------------


def test_the_valid_example_is_valid() -> None:
    sop = parse_sop(VALID, Path("x.yaml"))
    assert [s.kind for s in sop.steps] == [Kind.DISPOSISI, Kind.UNGGAH, Kind.PERIKSA, Kind.TUGAS]


def test_bad_waktu_on_step_4() -> None:
    err = _error(_edit(26, "    waktu: 5 Menit", "    waktu: 2 Bulan"))
    assert err.line == 26
    assert "4" in err.field and err.field.endswith(", waktu")
    assert '"2 Bulan"' in err.message
    assert str(err) == f"x.yaml:26: {err.field}: {err.message}"


def test_bad_waktu_on_step_4_is_named_langkah_4_waktu() -> None:
    err = _error(_edit(26, "    waktu: 5 Menit", "    waktu: 2 Bulan"))
    assert err.field == "langkah 4, waktu"
    assert str(err).startswith("x.yaml:26: langkah 4, waktu: ")


# (line to change, its text, new text or None to delete,
#  expected line, step the error is in, field within the step, part of the message)
MALFORMED = [
    pytest.param(
        25, "    role: staf", "    role: bendahara",
        25, 4, "role", "'bendahara' tidak ada di daftar roles",
        id="unknown role",
    ),
    pytest.param(
        24, "    kegiatan: Mengarsipkan", None,
        23, 4, "kegiatan", "wajib diisi",
        id="missing kegiatan",
    ),
    pytest.param(
        22, "    revisi_ke: 2", "    revisi_ke: 1",
        22, 3, "revisi_ke", "harus menunjuk langkah unggah",
        id="revisi_ke points to a disposisi step",
    ),
    pytest.param(
        22, "    revisi_ke: 2", "    revisi_ke: 3",
        22, 3, "revisi_ke", "langkah sebelumnya",
        id="revisi_ke points to itself",
    ),
    pytest.param(
        22, "    revisi_ke: 2", None,
        21, 3, "kind", "wajib punya revisi_ke",
        id="review step without revisi_ke",
    ),
    pytest.param(
        27, "    kind: tugas", "    kind: tugas\n    revisi_ke: 2",
        28, 4, "revisi_ke", "hanya untuk langkah periksa",
        id="revisi_ke on a tugas step",
    ),
    pytest.param(
        21, "    kind: periksa", "    kind: periksa\n    catatan: cek lampiran",
        22, 3, "catatan", "kolom tidak dikenal",
        id="unknown key in a step",
    ),
    pytest.param(
        27, "    kind: tugas", "    kind: rapat",
        27, 4, "kind", "tanda_tangan",
        id="unknown kind lists the allowed ones",
    ),
    pytest.param(
        16, "    kind: unggah", "    kind: unggah\n    berkas: [pdf, exe]",
        17, 2, "berkas", "jenis berkas",
        id="unknown file type",
    ),
    pytest.param(
        15, "    waktu: 1 Hari", "    waktu: 0 Hari",
        15, 2, "waktu", "lebih dari 0",
        id="zero waktu",
    ),
    pytest.param(
        27, "    kind: tugas", "    kind: tugas\n    ttd_oleh: kasubag",
        28, 4, "ttd_oleh", "hanya untuk langkah unggah",
        id="a signature on a tugas step",
    ),
    pytest.param(
        16, "    kind: unggah", "    kind: unggah\n    ttd_oleh: staf",
        17, 2, "ttd_oleh", "peran lain dari pengunggah",
        id="the uploader signing his own upload",
    ),
    pytest.param(
        16, "    kind: unggah", "    kind: unggah\n    ttd_oleh: kadis",
        17, 2, "ttd_oleh", "'kadis' tidak ada di daftar roles",
        id="a signer that is not a role",
    ),
    pytest.param(
        16, "    kind: unggah", "    kind: unggah\n    pindai_oleh: kasubag",
        17, 2, "pindai_oleh", "hanya untuk langkah yang ditandatangani",
        id="a scanner for an upload nobody signs",
    ),
    pytest.param(
        16, "    kind: unggah", "    kind: unggah\n    ttd_oleh: kasubag\n    pindai_oleh: kasubag",
        18, 2, "pindai_oleh", "peran lain dari penanda tangan",
        id="the signer as his own scanner",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("line_no", "old", "new", "want_line", "step", "field", "message"), MALFORMED
)
def test_a_malformed_step_names_the_line_and_field(
    line_no: int,
    old: str,
    new: str | None,
    want_line: int,
    step: int,
    field: str,
    message: str,
) -> None:
    err = _error(_edit(line_no, old, new))
    assert err.path == Path("x.yaml")
    assert err.line == want_line
    assert err.field.startswith("langkah ") and err.field.endswith(f"{step}, {field}")
    assert message in err.message
    assert str(err) == f"x.yaml:{want_line}: {err.field}: {err.message}"


@pytest.mark.parametrize(
    ("line_no", "old", "new", "want_line", "step", "field", "message"), MALFORMED
)
def test_a_malformed_step_is_named_by_its_number(
    line_no: int,
    old: str,
    new: str | None,
    want_line: int,
    step: int,
    field: str,
    message: str,
) -> None:
    err = _error(_edit(line_no, old, new))
    assert err.field == f"langkah {step}, {field}"


def test_steps_not_numbered_in_order() -> None:
    err = _error(_edit(17, "  - no: 3", "  - no: 4"))
    assert err.line == 17
    assert err.field.endswith(", no")
    assert "harusnya 3" in err.message


@pytest.mark.parametrize(
    ("line_no", "old", "new", "want_line", "field", "message"),
    [
        pytest.param(
            2, "title: SOP Contoh", "title: SOP Contoh\njudul: Contoh",
            3, "judul", "kolom tidak dikenal",
            id="unknown top-level key",
        ),
        pytest.param(
            2, "title: SOP Contoh", "title: ''",
            2, "title", "tidak boleh kosong",
            id="empty title",
        ),
        pytest.param(
            4, "  - {code: staf, name: Staf, superior: kasubag}",
            "  - {code: staf, name: Staf, superior: kabag}",
            4, "superior", "'kabag' tidak ada di daftar roles",
            id="unknown superior",
        ),
        pytest.param(
            5, "  - {code: kasubag, name: Kepala Sub Bagian}",
            "  - {code: kasubag, name: Kepala Sub Bagian}\n  - {code: staf, name: Staf Lain}",
            None, "code", "'staf' ganda",
            id="duplicate role code",  # either copy (line 4 or 6) is a fine place to point at
        ),
        pytest.param(
            5, "  - {code: kasubag, name: Kepala Sub Bagian}",
            "  - {code: Kasubag, name: Kepala Sub Bagian}",
            5, "code", "huruf kecil",
            id="role code in capitals",
        ),
    ],
)  # fmt: skip
def test_a_malformed_header_or_role_names_the_line_and_field(
    line_no: int, old: str, new: str | None, want_line: int | None, field: str, message: str
) -> None:
    err = _error(_edit(line_no, old, new))
    assert err.line == want_line or (want_line is None and err.line in (4, 6))
    assert err.field.endswith(field)
    assert message in err.message


def test_missing_steps_names_the_field() -> None:
    text = "\n".join(VALID.splitlines()[:5]) + "\n"
    err = _error(text)
    assert (err.line, err.field, err.message) == (1, "steps", "wajib diisi")


def test_invalid_yaml_syntax_names_the_line() -> None:
    err = _error(_edit(20, "    waktu: 1 Jam", "    waktu: 1 Jam: lagi"))
    assert (err.line, err.field) == (20, "(format YAML)")
    assert str(err).startswith("x.yaml:20: (format YAML): ")


def test_an_unclosed_bracket_is_a_yaml_error() -> None:
    err = _error('number: "1/2/3"\ntitle: [Contoh\nroles: []\n')
    assert err.field == "(format YAML)"
    assert err.line in (2, 3)  # opened on line 2, noticed on line 3


def test_a_file_that_is_a_list_is_refused() -> None:
    err = _error("- no: 1\n  kegiatan: Memberikan tugas\n")
    assert (err.line, err.field) == (1, "(berkas)")
    assert "pemetaan" in err.message


def test_an_empty_file_is_refused() -> None:
    err = _error("")
    assert err.field == "(berkas)"


def test_yes_and_no_stay_text() -> None:
    # YAML 1.1 reads `no` and `yes` as booleans; the loader keeps them as text (`no:` is a key).
    sop = parse_sop(_edit(8, "    kegiatan: Memberikan tugas", "    kegiatan: yes"), Path("x.yaml"))
    assert sop.step(1).kegiatan == "yes"
