"""The fault run moved to the package `scripts/fault/` (see its docstring); this keeps
`python -m scripts.fault_run …` and `python scripts/fault_run.py …` working."""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file: the repository root must be importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.fault.main import main

if __name__ == "__main__":
    sys.exit(main())
