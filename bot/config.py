"""Settings, read from the environment or `.env` (pydantic-settings).

The names in DESIGN.md's contract are fixed; the rest are ours and listed in README.md.
"""

from __future__ import annotations

from datetime import date, time
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.db import PoolOptions

DEFAULT_BIDANG = (
    "Sekretariat",
    "Bidang Koperasi",
    "Bidang Usaha Kecil dan Menengah",
    "Bidang Perindustrian",
    "UPTD",
)
DEFAULT_INSTRUKSI = (
    "Untuk diketahui",
    "Untuk ditindaklanjuti",
    "Untuk dikoordinasikan",
    "Siapkan bahan",
    "Hadiri/wakili",
)


def _split_csv(value: object) -> object:
    # Comma-separated lists are friendlier in .env files than JSON arrays.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None  # required by `run`; other commands work without
    telegram_local_mode: bool = False  # a self-hosted Bot API server started with --local
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str = "https://api.telegram.org/file/bot"
    # A self-hosted Bot API server in --local mode lets bots download files up to 2000 MB.
    telegram_max_download_mb: int = 20

    database_url: str = "sqlite+aiosqlite:///data/bot.db"
    # PostgreSQL connection pool (SQLite ignores these)
    db_connect_timeout_seconds: float = 10.0
    db_command_timeout_seconds: float = 30.0
    db_pool_size: int = 5
    db_pool_max_overflow: int = 10
    db_pool_recycle_seconds: float = 1800.0
    pgbouncer: bool = False  # behind PgBouncer in transaction mode: no statement cache
    files_dir: Path = Path("data/files")
    sop_dir: Path | None = None

    timezone: str = "Asia/Makassar"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    work_calendar: str = "office"
    office_opens: time = time(7, 30)
    office_closes: time = time(16, 0)
    extra_closures: Annotated[list[date], NoDecode] = Field(default_factory=list)
    time_scale: float = 1.0
    scan_interval_seconds: float = 5.0
    # Pace sends to Telegram's limits (30/s per bot, ~1/s per chat); false only for bench/.
    send_pacing: bool = True
    outbox_lease_seconds: float = 30.0  # a crashed sender's rows are taken over after this
    inbox_lease_seconds: float = 30.0  # a crashed process's updates are handled after this
    inbox_keep_days: float = 7.0  # handled updates are deleted after this
    download_timeout_seconds: float = 30.0  # one slow getFile/download answers, never hangs
    # How long a file send waits for Telegram's answer. PTB's 5 s (kept for texts, so one
    # stalled chat does not hold up the others long) is short for a document on a busy
    # link: a send that timed out is sent again, and the person then has it twice.
    file_read_timeout_seconds: float = 20.0
    file_upload_timeout_seconds: float = 60.0  # writing a file to Telegram (media_write)

    reminder_interval_minutes: float = 60.0
    escalation_multiple: float = 2.0
    digest_time: time = time(7, 30)
    # The digest goes out in this window after DIGEST_TIME (a bot that was down catches up
    # only inside it); outside, nothing triggers one.
    digest_window_minutes: float = 120.0
    bidang: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(DEFAULT_BIDANG))
    invite_ttl_hours: float = 72.0
    # The instruksi a disposisi can tick (comma-separated), as on the office's lembar disposisi.
    instruksi_disposisi: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_INSTRUKSI)
    )
    # Nomor agenda of a new process: {sop} (e.g. 370), {seq} (per SOP per year), {year}.
    nomor_agenda_pola: str = "{sop}/{seq:03d}/{year}"

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "0.0.0.0"
    webhook_port: int = 8443

    log_level: str = "INFO"

    _split = field_validator(
        "admin_ids", "extra_closures", "bidang", "instruksi_disposisi", mode="before"
    )(_split_csv)

    @field_validator("sop_dir", "webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("time_scale")
    @classmethod
    def _positive_scale(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("TIME_SCALE harus lebih besar dari 0")
        return value

    @field_validator("work_calendar")
    @classmethod
    def _known_calendar(cls, value: str) -> str:
        if value not in ("office", "always"):
            raise ValueError("WORK_CALENDAR harus 'office' atau 'always'")
        return value

    @property
    def pool(self) -> PoolOptions:
        return PoolOptions(
            connect_timeout=self.db_connect_timeout_seconds,
            command_timeout=self.db_command_timeout_seconds,
            pool_size=self.db_pool_size,
            max_overflow=self.db_pool_max_overflow,
            recycle_seconds=self.db_pool_recycle_seconds,
            pgbouncer=self.pgbouncer,
        )

    @cached_property
    def max_download_bytes(self) -> int:
        return self.telegram_max_download_mb * 1024 * 1024
