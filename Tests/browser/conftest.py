"""Puts Tests/support on the import path: the one server launcher, server_process.py."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "support"))
