"""The sandbox scenario table (local/sandbox/scenarios.py): the one home of the number -> behaviour
contract. The README's tables are rendered from it, the emulators read it, one emulator module
per provider adapter, and no sandbox module imports one that imports it back."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from carrier_auth import codes
from local.sandbox import readme, scenarios
from local.sandbox.scenarios import SCENARIOS, by_name, scenario
from local.sandbox.server import EMULATORS, SandboxProviders

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = ROOT / "local" / "sandbox"
PROVIDERS = ROOT / "layers" / "common" / "carrier_auth" / "providers"


# ---------------------------------------------------------------- the README
def test_the_readme_tables_are_rendered_from_the_table() -> None:
    diff = readme.differences(readme.README.read_text(encoding="utf-8"))
    assert diff == "", f"README.md differs from scenarios.py (python -m local.sandbox.readme --write):\n{diff}"


def test_the_check_command_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "local.sandbox.readme", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr


def test_a_changed_row_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    text = readme.README.read_text(encoding="utf-8")
    row = by_name("password_disabled")
    changed = dataclasses.replace(row, answer="104/90099")
    monkeypatch.setattr(readme, "SCENARIOS", tuple(changed if r is row else r for r in SCENARIOS))

    diff = readme.differences(text)

    cells = f"| {row.mobile} | `success:false` 该号码已禁用服务密码 | DONE_FAIL 个人用户或证件类型禁用服务密码"
    assert f"-{cells} | 104/90022 |" in diff
    assert f"+{cells} | 104/90099 |" in diff


def test_a_changed_readme_is_caught() -> None:
    text = readme.README.read_text(encoding="utf-8")
    for before, after in [("| Result -7 |", "| Result -8 |"), ("| 13800138015 |", "| 13800138115 |")]:
        assert before in text
        assert readme.differences(text.replace(before, after, 1)) != ""
    dropped = text.replace("| 13900139047 | — | 502 | 请求失败 |\n", "", 1)
    assert dropped != text
    assert "+| 13900139047 | — | 502 | 请求失败 |" in readme.differences(dropped)


def test_write_replaces_only_the_tables() -> None:
    text = readme.README.read_text(encoding="utf-8")
    stale = text.replace("| 13800138010 | 30000 daily SMS limit |", "| 13800138010 | 30000 stale |", 1)
    assert stale != text
    assert readme.spliced(stale) == text


# ---------------------------------------------------------------- the table itself
def test_numbers_and_names_are_unique() -> None:
    mobiles = [row.mobile for row in SCENARIOS]
    names = [row.name for row in SCENARIOS]
    assert len(set(mobiles)) == len(mobiles)
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"1[3-9]\d{9}", mobile) for mobile in mobiles)
    assert {f"138001380{n:02d}" for n in range(31)} <= set(mobiles)  # the carrier numbers, none skipped


def test_every_row_is_in_a_readme_table() -> None:
    for row in SCENARIOS:
        assert row.table in (scenarios.BASIC, scenarios.MORE) or readme.is_identity(row), row.name
        if row.table:
            assert row.answer, row.name


def test_every_value_is_one_the_emulators_know() -> None:
    for row in SCENARIOS:
        juxinli, moxie = row.juxinli, row.moxie
        assert juxinli.login.then in (scenarios.ASKS_CODE, scenarios.ASKS_QUERY_PASSWORD, scenarios.ENDS), row.name
        assert juxinli.code.then in (
            scenarios.ASKS_CODE, scenarios.COLLECTS, scenarios.NEXT_DATASOURCE, scenarios.ENDS
        ), row.name
        assert juxinli.every_collect is None or juxinli.every_collect.then == scenarios.ENDS, row.name
        assert juxinli.job in (scenarios.JOB_DONE, scenarios.JOB_FAILED), row.name
        assert moxie.login[0] in (scenarios.WAIT_SMS, scenarios.WAIT_IMAGE, scenarios.DONE_FAIL), row.name
        assert moxie.after_input is None or moxie.after_input[0] in (
            scenarios.DONE_FAIL, scenarios.DONE_TIMEOUT, scenarios.GONE
        ), row.name
        assert moxie.crawl[0] in (scenarios.DONE_SUCC, scenarios.DONE_FAIL), row.name
        for fault in (juxinli.fault, moxie.fault):
            assert fault in ("", scenarios.DOWN, scenarios.LATE, scenarios.MAINTENANCE), row.name
        assert row.three_factor in ("0", "-4", "-6", "-7", "-8", "-9", "-11", "-12", "-13"), row.name
        if row.table == scenarios.MORE:  # a README cell for each: a summary, or one derived from the data
            readme.juxinli_cell(juxinli)
            readme.moxie_cell(moxie)


def test_guide_codes_are_the_gateways() -> None:
    known = set(codes.GUIDE_MESSAGES) | set(codes.EXTENSION_MESSAGES)
    used = {code for row in SCENARIOS for code in row.guide_codes}
    assert used and used <= known, used - known


def test_an_unlisted_number_gets_the_default() -> None:
    assert scenario("13800138099") is scenarios.DEFAULT
    assert scenario(13800138001) is scenarios.DEFAULT  # not a string
    assert scenario("13800138001").three_factor == "-4"
    default = scenarios.DEFAULT
    assert (default.juxinli, default.moxie, default.three_factor, default.yuxin) == (
        scenarios.Juxinli(), scenarios.Moxie(), "0", scenarios.CONSISTENT
    )


def test_only_the_table_holds_mobile_numbers() -> None:
    for path in sorted(SANDBOX.glob("*.py")):
        if path.name != "scenarios.py":
            found = re.findall(r"1[3-9]\d{9}", path.read_text(encoding="utf-8"))
            assert not found, f"{path.name} names {found}: put the behaviour in scenarios.py"


# ---------------------------------------------------------------- the modules
def _adapter_modules() -> set[str]:
    """The adapter modules the deployment's provider registry builds from."""
    tree = ast.parse((PROVIDERS / "registry.py").read_text(encoding="utf-8"))
    return {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module and node.module != "base"
    }


def test_one_emulator_module_per_provider_adapter_all_mounted_the_same_way() -> None:
    names = {module.__name__.rsplit(".", 1)[-1] for module in EMULATORS}
    assert names == _adapter_modules() == {"juxinli", "moxie", "three_factor", "yuxin"}
    sandbox = SandboxProviders()
    for module in EMULATORS:
        assert type(sandbox._emulators[module.PREFIX]).__module__ == module.__name__
    assert list(sandbox._emulators) == [module.PREFIX for module in EMULATORS]


def _sandbox_imports(path: Path) -> set[str]:
    """The sandbox modules ``path`` imports, anywhere in it (functions included)."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:
                imported.add(node.module.split(".")[0])
            elif node.level == 1:
                imported.update(alias.name for alias in node.names)
            elif node.module and node.module.startswith("local.sandbox."):
                imported.add(node.module.split(".")[2])
            elif node.module == "local.sandbox":
                imported.update(alias.name for alias in node.names if (SANDBOX / f"{alias.name}.py").exists())
        elif isinstance(node, ast.Import):
            imported.update(a.name.split(".")[2] for a in node.names if a.name.startswith("local.sandbox."))
    return imported


def test_no_import_circle() -> None:
    graph = {path.stem: _sandbox_imports(path) for path in SANDBOX.glob("*.py")}

    def visit(module: str, trail: tuple[str, ...]) -> None:
        assert module not in trail, f"import circle: {' -> '.join((*trail, module))}"
        for imported in sorted(graph.get(module, ())):
            visit(imported, (*trail, module))

    for module in graph:
        visit(module, ())
    # the layers: data, shared helpers, one emulator per provider, the server over them
    assert graph["scenarios"] == set() and graph["common"] == set()
    for module in EMULATORS:
        assert graph[module.__name__.rsplit(".", 1)[-1]] <= {"common", "scenarios"}
