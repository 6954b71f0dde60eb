"""`make build`'s last step: do the artifacts `sam build` wrote work under the Lambda runtime?

For the runtime and architecture the template declares (python3.13, arm64):
1. the layer (``.aws-sam/build/CommonLayer/python``) holds every distribution pinned in
   ``layers/common/requirements.txt`` at its pinned version, each compiled one built for that
   Python and architecture (its wheel tags), and the ``carrier_auth`` package as in the repo;
2. every function's folder imports - ``app.lambda_handler`` - under Python 3.13 with exactly
   what Lambda puts on the path: the function folder, then the layer. A build machine is rarely
   arm64, so the layer's compiled distributions alone (their .so files cannot load here) come
   from this interpreter's own install of the same pinned versions; everything else - our code,
   Powertools, boto3, pydantic's Python part, phonenumbers, ... - is imported from the artifacts.
3. the OpenAPI function answers its event from the artifacts (a handler that runs without AWS).

Run with the 3.13 interpreter: ``python3.13 -m local.build_check [.aws-sam/build]``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = (3, 13)
ARCH = "aarch64"  # the template's arm64


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "layers/common/requirements.txt").read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==")
            pins[_norm(re.sub(r"\[.*\]", "", name))] = version.strip()
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _distributions(layer: Path) -> dict[str, tuple[str, Path]]:
    found = {}
    for info in layer.glob("*.dist-info"):
        name, version = info.name[: -len(".dist-info")].rsplit("-", 1)
        found[_norm(name)] = (version, info)
    return found


def _compiled(info: Path) -> bool:
    wheel = info / "WHEEL"
    return wheel.exists() and "Root-Is-Purelib: false" in wheel.read_text(encoding="utf-8")


def check_layer(layer: Path) -> list[str]:
    """Problems with the layer's content (empty when it is what the pins and the template say)."""
    problems = []
    dists = _distributions(layer)
    for name, version in _pins().items():
        if name not in dists:
            problems.append(f"layer lacks {name}=={version}")
        elif dists[name][0] != version:
            problems.append(f"layer has {name}=={dists[name][0]}, pinned {version}")
    tag = f"cp{RUNTIME[0]}{RUNTIME[1]}"
    for name, (_version, info) in dists.items():
        if _compiled(info):
            tags = [line.split(":", 1)[1].strip() for line in (info / "WHEEL").read_text().splitlines() if line.startswith("Tag:")]
            if not any(ARCH in t and (tag in t or "abi3" in t) for t in tags):
                problems.append(f"{name} is built for {tags}, not {tag} {ARCH}")
    ours = sorted(p.relative_to(ROOT / "layers/common") for p in (ROOT / "layers/common/carrier_auth").rglob("*.py"))
    built = sorted(p.relative_to(layer) for p in (layer / "carrier_auth").rglob("*.py"))
    if [str(p) for p in ours] != [str(p) for p in built]:
        problems.append("layer's carrier_auth differs from layers/common/carrier_auth")
    return problems


def _native_shadows(layer: Path) -> list[str]:
    """Top-level names of the layer's compiled distributions (and their loose extension modules)."""
    names = set()
    for _version, info in _distributions(layer).values():
        if _compiled(info) and (info / "RECORD").exists():
            for line in (info / "RECORD").read_text(encoding="utf-8").splitlines():
                top = line.split(",", 1)[0].split("/", 1)[0]
                if top and not top.endswith((".dist-info", ".data")) and top != "..":
                    names.add(top)
    return sorted(names)


_PROBE = """
import importlib, json, sys
sys.path[:0] = json.loads(sys.argv[1])
app = importlib.import_module("app")
assert callable(app.lambda_handler), "lambda_handler is not callable"
if sys.argv[2]:  # a handler that answers its event without AWS
    class Context:
        function_name, function_version, memory_limit_in_mb = "probe", "$LATEST", 256
        invoked_function_arn, aws_request_id = "arn:aws:lambda:cn-north-1:123456789012:function:probe", "probe"
        def get_remaining_time_in_millis(self): return 30000
    answer = app.lambda_handler(json.load(open(sys.argv[2], encoding="utf-8")), Context())
    assert answer["statusCode"] == 200, answer
origin = importlib.import_module("carrier_auth").__file__
print(json.dumps({"carrier_auth": origin, "python": list(sys.version_info[:2])}))
"""
# functions whose event is answered without AWS: the probe invokes them too
INVOKED = {"OpenApiFunction": ROOT / "events/openapi/document.json"}


def check_functions(build: Path, layer: Path) -> list[str]:
    """Import every function's handler from the artifacts, in a fresh 3.13 process each."""
    problems = []
    template = json.loads(json.dumps(_load_template(build / "template.yaml")))
    functions = [k for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    with tempfile.TemporaryDirectory() as tmp:
        pure = Path(tmp) / "layer"
        shadows = set(_native_shadows(layer))
        shutil.copytree(layer, pure, ignore=lambda d, names: [n for n in names if Path(d) == layer and n in shadows])
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        env.update(AWS_DEFAULT_REGION="cn-north-1", POWERTOOLS_TRACE_DISABLED="true", AWS_XRAY_SDK_ENABLED="false",
                   POWERTOOLS_METRICS_NAMESPACE="CarrierAuth", POWERTOOLS_SERVICE_NAME="carrier-auth")
        for name in functions:
            folder = build / name
            # Lambda's path: the function, then the layer; this interpreter's site-packages last
            # (only the layer's compiled distributions are missing from the copy)
            result = subprocess.run(
                [sys.executable, "-I", "-c", _PROBE, json.dumps([str(folder), str(pure)]), str(INVOKED.get(name, ""))],
                capture_output=True, text=True, env=env, cwd=tmp, timeout=120,
            )
            if result.returncode != 0:
                problems.append(f"{name}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'failed'}")
                continue
            seen = json.loads(result.stdout.strip().splitlines()[-1])
            if not seen["carrier_auth"].startswith(str(pure)):
                problems.append(f"{name}: carrier_auth came from {seen['carrier_auth']}, not the layer")
            invoked = " and answers its event" if name in INVOKED else ""
            print(f"  {name:<28} imports{invoked} (Python {seen['python'][0]}.{seen['python'][1]})")
    return problems


def _load_template(path: Path) -> dict:
    from cfnlint.decode import decode

    template, matches = decode(str(path))
    if template is None:
        raise SystemExit(f"cannot read {path}: {matches}")
    return template


def main(argv: list[str]) -> int:
    build = Path(argv[0] if argv else ROOT / ".aws-sam/build").resolve()
    if sys.version_info[:2] != RUNTIME:
        print(f"build_check needs Python {RUNTIME[0]}.{RUNTIME[1]} (the Lambda runtime), not {sys.version.split()[0]}")
        return 2
    layer = build / "CommonLayer" / "python"
    problems = check_layer(layer)
    print(f"layer: {len(_distributions(layer))} distributions, compiled ones for cp313 {ARCH}")
    problems += check_functions(build, layer)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("build check: " + ("OK" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
