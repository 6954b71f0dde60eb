"""Which setting variables (``carrier_auth.config.Settings``) each function reads, against the
ones template.yaml gives it: each function must be given exactly what it reads.

The embedded stack records the reads (``EmbeddedStack(settings_log=...)``, local/worker.py);
the handler unit tests record them in-process with ``config.READ_HOOKS``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from carrier_auth.config import Settings

# Powertools' own variables: every function has them (template Globals), Powertools reads them.
POWERTOOLS_PREFIX = "POWERTOOLS_"


def setting_variables() -> set[str]:
    return set(Settings.variables().values())


def declared(template: dict[str, Any]) -> dict[str, set[str]]:
    """Function logical id -> the setting variables template.yaml gives it (Globals and its own)."""
    glob = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    given: dict[str, set[str]] = {}
    for logical, spec in template["Resources"].items():
        if spec["Type"] != "AWS::Serverless::Function":
            continue
        own = spec.get("Properties", {}).get("Environment", {}).get("Variables", {})
        given[logical] = {name for name in {**glob, **own} if not name.startswith(POWERTOOLS_PREFIX)}
    return given


def recorded(folder: Path) -> dict[str, set[str]]:
    """Function logical id -> the setting variables its environments read (``<id>.log`` files)."""
    return {log.stem: set(log.read_text(encoding="utf-8").split()) for log in folder.glob("*.log")}


def undeclared_reads(given: dict[str, set[str]], reads: dict[str, set[str]]) -> dict[str, list[str]]:
    """Variables a function read that the template does not give it (it ran on a default)."""
    return {fn: sorted(read - given.get(fn, set())) for fn, read in reads.items() if read - given.get(fn, set())}


def unread(given: dict[str, set[str]], reads: dict[str, set[str]]) -> dict[str, list[str]]:
    """Variables the template gives a function that it never read."""
    return {fn: sorted(names - reads.get(fn, set())) for fn, names in given.items() if names - reads.get(fn, set())}
