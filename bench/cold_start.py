"""Cold import time of every Lambda function, relative to a bare ``import boto3`` (a benchmark,
not a test).

Functions are discovered from template.yaml (every ``AWS::Serverless::Function``: CodeUri,
Handler, Layers, Environment), so a function added to the template is measured without a
change here. Each sample is a fresh interpreter that imports the handler module the way Lambda
loads it - sys.path = the function's folder, then its layers' folders - with the function's
template environment (parameter defaults, logical ids for resource refs, a dummy URL for empty
base URLs) and what the Lambda runtime sets (region, function name, ``LAMBDA_TASK_ROOT``, ...; no
credentials: importing must not call AWS). The time is measured inside the subprocess with
``time.perf_counter`` (and ``time.process_time``) around the import: interpreter start-up is
excluded. Function and ``import boto3`` samples alternate; a ratio is median / median of the
samples taken side by side, so a machine that gets busier during the run affects both.

Columns: ``ratio`` (the goal: <= 1.5) and ``cpu ratio`` (the same in CPU time, steadier on a busy
machine) with the Powertools Tracer disabled (``POWERTOOLS_TRACE_DISABLED``, as in the local
stack): our own imports. ``x-ray ratio``: as deployed (``Tracing: Active``), where every Tracer
also patches botocore, requests, http.client, sqlite3, ... for X-Ray at import. (Without
``LAMBDA_TASK_ROOT`` the X-Ray SDK would create two botocore clients at import, which it never
does in Lambda: it is always set here.)

Usage: PYTHONPATH=layers/common:. .venv/bin/python -m bench.cold_start [--python PATH ...]
  [--function NAME ...] [--runs N] [--no-xray] [--no-setup]
Without ``--python`` it runs for 3.11 (.venv/bin/python) and 3.13 (/tmp/venv313/bin/python,
created from pyenv's 3.13.0 if missing); ``--python`` alone means the current interpreter.
COLD_START_RUNS sets the samples per function (default 15).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from local.template import Resolver, function_environment, load_template, resources_of

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5
RUNS = int(os.environ.get("COLD_START_RUNS", "15"))
VENV_313 = Path("/tmp/venv313")
DEFAULT_PYTHONS = (("3.11", ROOT / ".venv" / "bin" / "python"), ("3.13", VENV_313 / "bin" / "python"))
DUMMY_BASE_URL = "https://upstream.example"
BASELINE = "boto3"

# Runs in the fresh interpreter: argv = module, then the sys.path entries to put first.
# -I keeps PYTHONPATH, the user site and the working directory out of sys.path.
PROBE = """\
import importlib, sys, time
sys.path[0:0] = sys.argv[2:]
started, cpu = time.perf_counter(), time.process_time()
importlib.import_module(sys.argv[1])
sys.stdout.write(f"{time.perf_counter() - started!r} {time.process_time() - cpu!r}")
"""


@dataclass(frozen=True)
class Function:
    logical: str
    folder: Path
    module: str
    attribute: str
    layers: tuple[Path, ...]
    environment: dict[str, str]  # as deployed

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def untraced(self) -> dict[str, str]:
        """The environment with the Powertools Tracer disabled: no X-Ray patching at import."""
        return {**self.environment, "POWERTOOLS_TRACE_DISABLED": "true"}


def _layer_folders(template: dict, resolver: Resolver, layers: list) -> tuple[Path, ...]:
    folders = []
    for layer in layers:
        logical = layer.get("Ref") if isinstance(layer, dict) else None
        spec = template["Resources"].get(logical or "", {})
        if spec.get("Type") == "AWS::Serverless::LayerVersion":
            folders.append((ROOT / resolver.resolve(spec["Properties"]["ContentUri"])).resolve())
    return tuple(folders)


def discover_functions() -> list[Function]:
    """Every AWS::Serverless::Function of template.yaml, as Lambda would load it."""
    template = load_template()
    resolver = Resolver(template, parameters={})
    defaults = template.get("Globals", {}).get("Function", {})
    functions = []
    for logical, spec in resources_of(template, "AWS::Serverless::Function").items():
        props = spec.get("Properties", {})
        folder = (ROOT / resolver.resolve(props["CodeUri"])).resolve()
        handler = props.get("Handler", defaults.get("Handler", "app.lambda_handler"))
        module, attribute = handler.rsplit(".", 1)
        environment = function_environment(template, resolver, logical)
        for key, value in environment.items():
            if not value and key.endswith("_BASE_URL"):
                environment[key] = DUMMY_BASE_URL
        layers = _layer_folders(template, resolver, props.get("Layers", defaults.get("Layers", [])))
        runtime = props.get("Runtime", defaults.get("Runtime", "python3.13"))
        memory = props.get("MemorySize", defaults.get("MemorySize", 128))
        environment.update(lambda_runtime_environment(logical, folder, handler, runtime, memory))
        functions.append(Function(logical, folder, module, attribute, layers, environment))
    return sorted(functions, key=lambda f: f.name)


def lambda_runtime_environment(
    logical: str, folder: Path, handler: str, runtime: str, memory: object
) -> dict[str, str]:
    """What the Lambda runtime itself sets."""
    return {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": f"carrier-auth-bench-{logical}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "LAMBDA_TASK_ROOT": str(folder),
        "_HANDLER": handler,
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
    }


def _base_environment() -> dict[str, str]:
    # nothing from this shell that could change what is imported (AWS_*, PYTHON*, ...)
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "TMPDIR", "SYSTEMROOT")}


def _probe(python: str, code: str, args: list[str], environment: dict[str, str], cwd: Path) -> str:
    """A fresh, isolated interpreter running ``code``: its output, or the error's last line."""
    out = subprocess.run(
        [python, "-I", "-c", code, *args],
        cwd=cwd,
        env={**_base_environment(), **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError((out.stderr.strip().splitlines() or ["no output"])[-1])
    return out.stdout


def sample(
    python: str, module: str, paths: tuple[Path, ...], environment: dict[str, str], cwd: Path
) -> tuple[float, float]:
    """(wall, CPU) seconds one fresh interpreter spends importing ``module``."""
    try:
        wall, cpu = _probe(python, PROBE, [module, *map(str, paths)], environment, cwd).split()
    except RuntimeError as exc:
        raise RuntimeError(f"importing {module} failed: {exc}") from None
    return float(wall), float(cpu)


def check_handler(python: str, function: Function) -> None:
    """The module imports and exposes the handler (also writes the .pyc files once)."""
    code = (
        "import sys; sys.path[0:0] = sys.argv[3:]; "
        "import importlib; handler = getattr(importlib.import_module(sys.argv[1]), sys.argv[2]); "
        "assert callable(handler), 'handler is not callable'"
    )
    args = [function.module, function.attribute, *map(str, (function.folder, *function.layers))]
    _probe(python, code, args, function.environment, function.folder)


Sample = tuple[float, float]  # (wall, CPU) seconds


def _median(samples: list[Sample], cpu: bool = False) -> float:
    return statistics.median(s[1] if cpu else s[0] for s in samples)


@dataclass
class Result:
    function: Function
    times: list[Sample] = field(default_factory=list)
    xray: list[Sample] = field(default_factory=list)
    baseline: list[Sample] = field(default_factory=list)
    error: str = ""

    @property
    def median(self) -> float:
        return _median(self.times)

    @property
    def baseline_median(self) -> float:
        return _median(self.baseline)

    @property
    def ratio(self) -> float:
        return self.median / self.baseline_median

    @property
    def cpu_ratio(self) -> float:
        """The same ratio in CPU time: less sensitive to other processes on a busy machine."""
        return _median(self.times, cpu=True) / _median(self.baseline, cpu=True)

    @property
    def xray_ratio(self) -> float | None:
        return _median(self.xray) / self.baseline_median if self.xray else None


def measure(python: str, functions: list[Function], runs: int, xray: bool) -> list[Result]:
    results = [Result(f) for f in functions]
    for result in results:
        try:
            check_handler(python, result.function)
            # warm the OS page cache and the baseline's .pyc files too
            sample(python, BASELINE, (), result.function.environment, result.function.folder)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            result.error = str(exc)
    live = [r for r in results if not r.error]
    for run in range(runs):
        for result in live:
            f = result.function
            paths = (f.folder, *f.layers)
            try:
                result.times.append(sample(python, f.module, paths, f.untraced, f.folder))
                result.baseline.append(sample(python, BASELINE, paths, f.untraced, f.folder))
                if xray:
                    result.xray.append(sample(python, f.module, paths, f.environment, f.folder))
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                result.error = str(exc)
        live = [r for r in live if not r.error]
        if sys.stderr.isatty():
            print(f"  run {run + 1}/{runs}", end="\r", file=sys.stderr, flush=True)
    return results


def report(label: str, python: str, version: str, results: list[Result], runs: int) -> None:
    print(f"\nCold import vs `import boto3` - Python {version} ({python}), {runs} interleaved runs, medians")
    header = (
        f"{'function':<14} {'import ms':>10} {'boto3 ms':>9} {'ratio':>6} {'cpu ratio':>9} {'x-ray ratio':>11}"
        f"  goal: ratio <= {GOAL}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        if r.error or not r.times:
            print(f"{r.function.name:<14} {'-':>10} {'-':>9} {'-':>6} {'-':>9} {'-':>11}  ERROR: {r.error}")
            continue
        verdict = "ok" if r.ratio <= GOAL else "OVER"
        xray = f"{r.xray_ratio:.2f}" if r.xray_ratio is not None else "-"
        print(
            f"{r.function.name:<14} {r.median * 1000:>10.1f} {r.baseline_median * 1000:>9.1f} {r.ratio:>6.2f}"
            f" {r.cpu_ratio:>9.2f} {xray:>11}  {verdict}"
        )
    measured = [r for r in results if not r.error and r.times]
    if measured:
        worst = max(measured, key=lambda r: r.ratio)
        print(f"worst: {worst.function.name} {worst.ratio:.2f}x ({label})")


def ensure_venv_313() -> str | None:
    """/tmp/venv313 from pyenv's 3.13.0 with requirements-dev.txt; a reason when it cannot be made."""
    if (VENV_313 / "bin" / "python").exists():
        return None
    print(f"creating {VENV_313} (pyenv 3.13.0) and installing requirements-dev.txt ...", flush=True)
    steps = (
        (["python", "-m", "venv", str(VENV_313)], {**os.environ, "PYENV_VERSION": "3.13.0"}),
        ([str(VENV_313 / "bin" / "pip"), "install", "-q", "-r", "requirements-dev.txt"], None),
    )
    for command, env in steps:
        try:
            out = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{' '.join(command[:3])}: {exc}"
        if out.returncode != 0:
            last = (out.stderr.strip().splitlines() or ["failed"])[-1]
            return f"{' '.join(command[:3])}: {last}"
    return None


def interpreter_version(python: str) -> str | None:
    """'3.11.7' when ``python`` runs and has boto3, else None."""
    try:
        out = subprocess.run(
            [python, "-I", "-c", "import platform, boto3; print(platform.python_version())"],
            capture_output=True, text=True, timeout=120, check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _absolute(python: str) -> str:
    return os.path.abspath(python) if os.sep in python else (shutil.which(python) or python)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", action="append", nargs="?", const=sys.executable,
                        help="interpreter to measure (repeatable; alone: the current one)")
    parser.add_argument("--function", action="append", help="only these function folders (repeatable)")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"samples per function (COLD_START_RUNS: {RUNS})")
    parser.add_argument("--no-xray", action="store_true", help="skip the samples with the Tracer enabled")
    parser.add_argument("--no-setup", action="store_true", help=f"do not create {VENV_313} when it is missing")
    args = parser.parse_args(argv)

    functions = discover_functions()
    if args.function:
        functions = [f for f in functions if f.name in args.function or f.logical in args.function]
    # absolute: the samples run in the function's folder
    pythons = [(p, _absolute(p)) for p in args.python] if args.python else [(l, str(p)) for l, p in DEFAULT_PYTHONS]
    print(f"{len(functions)} functions from template.yaml: {', '.join(f.name for f in functions)}")
    for label, python in pythons:
        if not args.python and Path(python).parent.parent == VENV_313 and not args.no_setup:
            reason = ensure_venv_313()
            if reason:
                print(f"skipping Python {label}: cannot create {VENV_313} ({reason})")
                continue
        version = interpreter_version(python)
        if version is None:
            print(f"skipping Python {label}: {python} is missing or cannot import boto3")
            continue
        report(label, python, version, measure(python, functions, args.runs, xray=not args.no_xray), args.runs)


if __name__ == "__main__":
    main()
