"""The client installs on its own: an empty virtualenv, pip, and no Django anywhere."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLIENT = Path(__file__).resolve().parents[2] / "client"
CHECK = """
import sys
import modresearch
from modresearch import Client
assert modresearch.__version__
django = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
apps = ("platform_api", "researchers", "moderation_data")
server = sorted(name for name in sys.modules if name.split(".")[0] in apps)
print("imported:", django, server)
sys.exit(1 if django or server else 0)
"""


@pytest.mark.slow
def test_the_client_installs_into_a_fresh_virtualenv_with_pip_and_imports_without_django(tmp_path):
    venv = tmp_path / "venv"
    # An empty virtualenv; pip (this environment's, pointed at it with --python) installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    # Dependencies come from the package index, as on a researcher's laptop; nothing from the dev venv.
    install = subprocess.run(
        [*pip, "install", "--quiet", "--no-compile", str(CLIENT)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr[-2000:]
    assert "BuildBackendWarning" not in install.stderr and "Deprecat" not in install.stderr, install.stderr[-2000:]
    check = subprocess.run([str(python), "-c", CHECK], capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "imported: [] []" in check.stdout
    cli = subprocess.run([str(venv / "bin" / "modresearch"), "--version"], capture_output=True, text=True)
    assert cli.returncode == 0 and cli.stdout.startswith("modresearch ")
    freeze = subprocess.run([*pip, "freeze"], capture_output=True, text=True).stdout.lower()
    assert "modresearch" in freeze and "httpx" in freeze
    assert "django" not in freeze


def test_importing_modresearch_imports_no_django_in_this_process_either():
    code = "import sys, modresearch; sys.exit(any(m == 'django' or m.startswith('django.') for m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], cwd=CLIENT).returncode == 0


def test_the_cli_and_a_plain_client_start_without_importing_pandas():
    # pandas (and numpy) load when a DataFrame is first built: `modresearch --help`, counts, JSONL/CSV walks
    # and exports start in a third of the time.
    code = (
        "import sys, modresearch, modresearch.cli; c = modresearch.Client('http://x', 'id', 'secret'); "
        "sys.exit(any(m.split('.')[0] in ('pandas', 'numpy', 'pyarrow') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=CLIENT).returncode == 0
    frames = "import sys, modresearch.frames; sys.exit('pandas' not in sys.modules)"
    assert subprocess.run([sys.executable, "-c", frames], cwd=CLIENT).returncode == 0
