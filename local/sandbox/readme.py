"""The README's sandbox scenario tables, rendered from ``local.sandbox.scenarios``.

    python -m local.sandbox.readme           # print the tables
    python -m local.sandbox.readme --check   # exit 1 with a diff when README.md's tables differ
    python -m local.sandbox.readme --write   # rewrite README.md's tables (the prose is left alone)

The tables are the runs of ``|`` lines in README.md's "## Sandbox scenarios" section, in order:
the basic numbers, the upstream conditions (Juxinli and Moxie side by side), the identity
numbers. A dash in a provider's column: that provider does what it does for any other number.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from .scenarios import (
    BASIC,
    CONSISTENT,
    DEFAULT,
    DONE_FAIL,
    ENDS,
    MORE,
    SCENARIOS,
    Juxinli,
    Moxie,
    Scenario,
)

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = "## Sandbox scenarios"
DASH = "—"


def juxinli_cell(juxinli: Juxinli) -> str:
    """Column J: the row's summary, else what the application or the first collect answers."""
    if juxinli.summary:
        return juxinli.summary
    if juxinli.refused:
        return f"`success:false` {juxinli.refused}"
    if juxinli.login.then == ENDS and juxinli.login != Juxinli().login:
        return f"{juxinli.login.process_code} {juxinli.login.content}"
    if juxinli == Juxinli():
        return DASH
    raise ValueError(f"a Juxinli behaviour with no summary: {juxinli}")


def moxie_cell(moxie: Moxie) -> str:
    """Column M: the row's summary, else the DONE_FAIL the login ends with."""
    if moxie.summary:
        return moxie.summary
    if moxie.login[0] == DONE_FAIL:
        return f"DONE_FAIL {moxie.login[1]}"
    if moxie == Moxie():
        return DASH
    raise ValueError(f"a Moxie behaviour with no summary: {moxie}")


def is_identity(row: Scenario) -> bool:
    return row.three_factor != "0" or row.yuxin != CONSISTENT


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [f"| {' | '.join(header)} |", "|" + "---|" * len(header)]
    return "\n".join(lines + [f"| {' | '.join(cells)} |" for cells in rows])


def _yuxin_cell(row: Scenario) -> str:
    answer = row.yuxin
    if answer == CONSISTENT:
        return DASH
    return answer.error_code if answer.return_code in ("0", "") else f"{answer.error_code} / {answer.return_code}"


def tables() -> list[str]:
    """The README's tables, in order."""
    basic = [[row.mobile, row.answer] for row in SCENARIOS if row.table == BASIC]
    more = [
        [row.mobile, juxinli_cell(row.juxinli), moxie_cell(row.moxie), row.answer]
        for row in SCENARIOS
        if row.table == MORE
    ]
    identity = [
        [
            row.mobile,
            f"Result {row.three_factor}" if row.three_factor != "0" else DASH,
            _yuxin_cell(row),
            row.identity or row.yuxin.detail,
        ]
        for row in SCENARIOS
        if is_identity(row)
    ]
    return [
        _table(["mobile", "behaviour"], [*basic, ["any other valid mobile", DEFAULT.answer]]),
        _table(["mobile", "J", "M", "answer"], more),
        _table(["mobile", "three-factor", "驭信", "meaning"], identity),
    ]


def _section(text: str) -> tuple[int, int]:
    start = text.index(f"\n{SECTION}") + 1
    end = text.find("\n## ", start + len(SECTION))
    return start, len(text) if end < 0 else end + 1


def readme_tables(text: str) -> list[tuple[int, int]]:
    """The (start, end) offsets of each table in the section: runs of lines starting with ``|``
    (the end before the last line's newline)."""
    start, end = _section(text)
    spans: list[tuple[int, int]] = []
    offset = start
    for line in text[start:end].splitlines(keepends=True):
        if line.startswith("|"):
            line_end = offset + len(line.rstrip("\n"))
            if spans and text[spans[-1][1]:offset] == "\n":
                spans[-1] = (spans[-1][0], line_end)  # the table goes on
            else:
                spans.append((offset, line_end))
        offset += len(line)
    return spans


def differences(text: str) -> str:
    """A unified diff of the README's tables against the rendered ones; "" when they agree."""
    found = [text[begin:end] for begin, end in readme_tables(text)]
    wanted = tables()
    if len(found) != len(wanted):
        return f"README.md's {SECTION!r} section has {len(found)} tables, the scenarios {len(wanted)}\n"
    diff = difflib.unified_diff(
        "\n".join(found).splitlines(), "\n".join(wanted).splitlines(), "README.md", "local.sandbox.scenarios", lineterm=""
    )
    return "\n".join(diff)


def spliced(text: str) -> str:
    """``text`` with the section's tables replaced by the rendered ones (the prose kept)."""
    spans, wanted = readme_tables(text), tables()
    if len(spans) != len(wanted):
        raise ValueError(f"README.md's {SECTION!r} section has {len(spans)} tables, expected {len(wanted)}")
    for (begin, end), table in reversed(list(zip(spans, wanted))):
        text = text[:begin] + table + text[end:]
    return text


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    if "--check" in argv:
        diff = differences(text)
        if diff:
            print(f"README.md's sandbox tables differ from local/sandbox/scenarios.py "
                  f"(python -m local.sandbox.readme --write):\n{diff}")
            return 1
        print(f"README.md's sandbox tables are current ({len(SCENARIOS)} numbers)")
    elif "--write" in argv:
        README.write_text(spliced(text), encoding="utf-8")
        print(f"README.md's sandbox tables written ({len(SCENARIOS)} numbers)")
    else:
        print("\n\n".join(tables()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
