"""template.yaml's operations block (alarm topic, alarms, dashboard) is what ops/template_block.py
generates: the alarm shapes have one home."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_operations_block_is_generated() -> None:
    result = subprocess.run([sys.executable, "-m", "ops.template_block", "--check"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_changed_block_is_caught() -> None:
    from ops import template_block

    changed = template_block.text.replace("Threshold: 0.2", "Threshold: 0.3", 1)
    assert changed != template_block.text
    start, end = changed.index(template_block.START), changed.index(template_block.END)
    assert template_block.spliced()[start:end] != changed[start:end]
