"""Load SOP definitions from YAML and say exactly where a broken file is wrong."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from bot.sop.model import SopDefinition, SopRuleError

BUILTIN_DIR = Path(__file__).parent / "definitions"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads `no:` as False; our steps have a field called `no`. Only true/false are
    booleans here."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class SopFileError(Exception):
    path: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.field}: {self.message}"


def _field_name(loc: tuple[str | int, ...], data: object) -> str:
    """('steps', 3, 'waktu') -> 'langkah 4, waktu' (people count steps from 1)."""
    parts: list[str] = []
    node = data
    for i, part in enumerate(loc):
        if part == "steps" and i + 1 < len(loc) and isinstance(loc[i + 1], int):
            node = node.get("steps") if isinstance(node, dict) else None
            continue
        if isinstance(part, int) and i > 0 and loc[i - 1] == "steps":
            try:
                parts.append(f"langkah {node[part]['no']}")  # type: ignore[index]
            except (KeyError, TypeError, IndexError):
                parts.append(f"langkah ke-{part + 1}")
        else:
            parts.append(str(part))
        try:
            node = node[part]  # type: ignore[index]
        except (KeyError, TypeError, IndexError):
            node = None
    return ", ".join(parts) or "(berkas)"


def _line_of(root: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """Follow the error's path through the YAML node tree to the closest line."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        nxt = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    nxt, line = value, key.start_mark.line + 1
                    break
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            nxt = node.value[part]
            line = nxt.start_mark.line + 1
        if nxt is None:
            break
        node = nxt
    return line


# Pydantic's messages, in the language of the people who edit SOP files.
_MESSAGES = {
    "missing": "wajib diisi",
    "extra_forbidden": "kolom tidak dikenal",
    "string_pattern_mismatch": "hanya huruf kecil, angka dan garis bawah, mis. tim_kerja",
    "string_too_short": "tidak boleh kosong",
    "string_type": "harus berupa teks",
    "int_parsing": "harus bilangan bulat",
    "int_type": "harus bilangan bulat",
    "greater_than_equal": "harus 1 atau lebih",
    "list_type": "harus berupa daftar",
    "too_short": "tidak boleh kosong",
    "date_from_datetime_parsing": "tanggal harus berformat YYYY-MM-DD",
    "date_parsing": "tanggal harus berformat YYYY-MM-DD",
    "model_type": "harus berupa pemetaan (key: value)",
    "dict_type": "harus berupa pemetaan (key: value)",
}


def parse_sop(text: str, path: Path) -> SopDefinition:
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SopFileError(path, line, "(format YAML)", str(exc).replace("\n", " ")) from exc
    if not isinstance(data, dict):
        raise SopFileError(path, 1, "(berkas)", "isi berkas harus berupa pemetaan (key: value)")
    try:
        return SopDefinition.model_validate(data)
    except SopRuleError as exc:
        raise SopFileError(
            path, _line_of(root, exc.loc), _field_name(exc.loc, data), exc.message
        ) from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        message = _MESSAGES.get(err["type"], message)
        if err["type"] == "enum":
            message = f"harus salah satu dari: {err.get('ctx', {}).get('expected', '')}"
        raise SopFileError(path, _line_of(root, loc), _field_name(loc, data), message) from exc


def load_file(path: Path) -> SopDefinition:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SopFileError(path, None, "(berkas)", f"tidak bisa dibaca: {exc.strerror}") from exc
    return parse_sop(text, path)


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


class SopRegistry:
    """All SOPs in force: the built-in ones, overridden or extended by SOP_DIR."""

    def __init__(self, sops: dict[str, SopDefinition]) -> None:
        self._sops = sops

    @classmethod
    def load(cls, extra_dir: Path | None = None) -> SopRegistry:
        sops: dict[str, SopDefinition] = {}
        folders = [BUILTIN_DIR]
        if extra_dir is not None:
            if not extra_dir.is_dir():
                raise SopFileError(extra_dir, None, "SOP_DIR", "folder tidak ditemukan")
            folders.append(extra_dir)
        for folder in folders:
            for path in _yaml_files(folder):
                sop = load_file(path)
                # A later folder overrides by number ("000.8.3.3 / 370" is "000.8.3.3/370").
                sops[sop.number.replace(" ", "")] = sop
        return cls(sops)

    def all(self) -> list[SopDefinition]:
        return sorted(self._sops.values(), key=lambda s: s.short)

    def get(self, key: str) -> SopDefinition | None:
        return next((s for s in self._sops.values() if s.matches(key)), None)

    def role_codes(self) -> dict[str, str]:
        """Every role code any SOP knows, with its display name."""
        codes: dict[str, str] = {}
        for sop in self.all():
            for role in sop.roles:
                codes.setdefault(role.code, role.name)
        return codes
