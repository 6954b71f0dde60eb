"""local/build_check.py: what it finds wrong in a layer (the whole check runs in `make build`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from local import build_check

ROOT = Path(__file__).resolve().parents[2]


def _layer(tmp_path: Path, skip: str = "", versions: dict[str, str] | None = None, tag: str = "cp313-cp313-manylinux_2_17_aarch64") -> Path:
    layer = tmp_path / "python"
    layer.mkdir()
    for name, version in build_check._pins().items():
        if name == skip:
            continue
        info = layer / f"{name}-{(versions or {}).get(name, version)}.dist-info"
        info.mkdir()
        compiled = name == "cryptography"
        wheel = "Root-Is-Purelib: false\nTag: " + tag if compiled else "Root-Is-Purelib: true\nTag: py3-none-any"
        (info / "WHEEL").write_text(f"Wheel-Version: 1.0\n{wheel}\n", encoding="utf-8")
        (info / "RECORD").write_text(f"{name}/__init__.py,,\n", encoding="utf-8")
    shutil.copytree(ROOT / "layers/common/carrier_auth", layer / "carrier_auth")
    return layer


def test_a_layer_as_pinned_and_built_for_the_runtime_passes(tmp_path: Path) -> None:
    assert build_check.check_layer(_layer(tmp_path)) == []


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"skip": "pydantic"}, "layer lacks pydantic=="),
        ({"versions": {"boto3": "0.0.1"}}, "layer has boto3==0.0.1"),
        ({"tag": "cp313-cp313-manylinux_2_17_x86_64"}, "cryptography is built for"),
        ({"tag": "cp311-cp311-manylinux_2_17_aarch64"}, "cryptography is built for"),
    ],
)
def test_what_a_wrong_layer_is_told(tmp_path: Path, kwargs: dict, problem: str) -> None:
    problems = build_check.check_layer(_layer(tmp_path, **kwargs))
    assert any(p.startswith(problem) for p in problems), problems


def test_a_layer_whose_code_differs_from_the_repo_is_told(tmp_path: Path) -> None:
    layer = _layer(tmp_path)
    (layer / "carrier_auth" / "api.py").unlink()
    assert build_check.check_layer(layer) == ["layer's carrier_auth differs from layers/common/carrier_auth"]


def test_compiled_distributions_are_the_ones_shadowed(tmp_path: Path) -> None:
    assert build_check._native_shadows(_layer(tmp_path)) == ["cryptography"]
