"""Records the office and its auditors use (issue 11): riwayat, lembar disposisi, the SOP
evaluation recap, the archive ZIP. Pure rendering: plain dataclasses in (`model`), bytes
out. No SQL and no Telegram here; bot/services/records*.py build the dataclasses."""
