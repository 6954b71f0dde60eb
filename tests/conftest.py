"""Shared test setup: the layer's package and the local stack on the import path."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "layers" / "common", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
