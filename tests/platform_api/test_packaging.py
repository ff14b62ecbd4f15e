"""pyproject.toml builds without setuptools deprecation warnings (README.md, "Operators")."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import BASE_DIR


def test_building_the_package_metadata_raises_no_setuptools_deprecation_warning(tmp_path):
    script = (
        "import warnings; warnings.simplefilter('error');"
        "from setuptools import build_meta;"
        f"build_meta.prepare_metadata_for_build_wheel({str(tmp_path)!r})"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=BASE_DIR, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Deprecat" not in result.stderr
    metadata = next(tmp_path.glob("*.dist-info")) / "METADATA"
    assert "License-Expression: Apache-2.0" in metadata.read_text()
