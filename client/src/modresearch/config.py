"""Where credentials come from: the environment, or a ``.env`` / JSON credentials file.

Looked up in this order (the first that names a client id wins):

1. ``MODRESEARCH_URL``, ``MODRESEARCH_CLIENT_ID``, ``MODRESEARCH_CLIENT_SECRET`` in the environment;
2. the file given as ``path=``, or in ``MODRESEARCH_CREDENTIALS``;
3. ``./.env``, ``./modresearch.env``, ``./modresearch.json`` (the names of the portal's downloads),
   ``~/.config/modresearch/credentials.json``.

A ``.env`` file holds ``KEY=value`` lines (``export`` prefixes, quotes and ``#`` comments allowed);
a JSON file holds one object. Either may name the keys with or without the ``MODRESEARCH_`` prefix
(``url``/``base_url``, ``client_id``, ``client_secret``), as the portal's download does.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from modresearch.errors import ConfigurationError

KEYS = {
    "url": ("MODRESEARCH_URL", "URL", "BASE_URL", "API_URL", "PLATFORM_URL"),
    "client_id": ("MODRESEARCH_CLIENT_ID", "CLIENT_ID"),
    "client_secret": ("MODRESEARCH_CLIENT_SECRET", "CLIENT_SECRET"),
}
DEFAULT_FILES = (
    Path(".env"),
    Path("modresearch.env"),
    Path("modresearch.json"),
    Path("~/.config/modresearch/credentials.json"),
)


def read_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The settings of a ``.env`` or JSON credentials file, keys upper-cased."""
    path = Path(path).expanduser()
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ConfigurationError(f"{path} must hold one JSON object")
        return {str(k).upper(): str(v) for k, v in data.items() if v is not None}
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigurationError(f"{path}:{number}: expected KEY=value")
        try:
            parts = shlex.split(value, comments=True)
        except ValueError as exc:
            raise ConfigurationError(f"{path}:{number}: {exc}") from None
        values[key.strip().upper()] = parts[0] if parts else ""
    return values


def _pick(values: Mapping[str, str], name: str) -> str | None:
    for key in KEYS[name]:
        if values.get(key):
            return values[key]
    return None


def resolve(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``url``, ``client_id`` and ``client_secret`` from the environment or a credentials file."""
    environ = os.environ if environ is None else environ
    found = {name: environ.get(KEYS[name][0]) for name in KEYS}
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    elif environ.get("MODRESEARCH_CREDENTIALS"):
        candidates.append(Path(environ["MODRESEARCH_CREDENTIALS"]))
    elif not (found["client_id"] and found["client_secret"]):
        candidates += [p for p in DEFAULT_FILES if p.expanduser().is_file()]
    for candidate in candidates:
        if not candidate.expanduser().is_file():
            raise ConfigurationError(f"credentials file {candidate} does not exist")
        values = read_file(candidate)
        if not _pick(values, "client_id"):
            continue
        # The environment wins over the file for anything it sets (e.g. a different URL).
        for name in KEYS:
            found[name] = found[name] or _pick(values, name)
        break
    missing = [KEYS[name][0] for name in KEYS if not found[name]]
    if missing:
        raise ConfigurationError(
            "Missing " + ", ".join(missing) + ": set them in the environment, or download your credentials from "
            "the portal as a .env or JSON file and pass its path (Client.from_env(path=...) or "
            "MODRESEARCH_CREDENTIALS)."
        )
    return {name: str(found[name]) for name in KEYS}
