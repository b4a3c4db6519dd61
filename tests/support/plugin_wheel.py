"""A wheel of the test backend plugin (``tests/support/backend_plugin``), built from its pyproject.

A wheel is a zip of the modules and a ``.dist-info`` folder, so the tests build it here and pip
installs it as it installs any plugin, with no build backend (a fresh virtual environment may
have neither setuptools nor wheel, and the tests may run offline).
"""

from __future__ import annotations

import base64
import hashlib
import tomllib
import zipfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "backend_plugin"


def build_wheel(target: Path, source: Path = SOURCE) -> Path:
    project = tomllib.loads((source / "pyproject.toml").read_text())
    name, version = project["project"]["name"].replace("-", "_"), project["project"]["version"]
    info = f"{name}-{version}.dist-info"
    files = {f"{module}.py": (source / f"{module}.py").read_bytes()
             for module in project["tool"]["setuptools"]["py-modules"]}
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {project['project']['name']}\nVersion: {version}\n".encode()
    files[f"{info}/WHEEL"] = b"Wheel-Version: 1.0\nGenerator: batchrock-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files[f"{info}/entry_points.txt"] = _entry_points(project["project"]["entry-points"]).encode()
    files[f"{info}/RECORD"] = "".join(f"{path},{_digest(data)},{len(data)}\n" for path, data in files.items()).encode()
    files[f"{info}/RECORD"] += f"{info}/RECORD,,\n".encode()
    wheel = target / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return wheel


def _entry_points(groups: dict[str, dict[str, str]]) -> str:
    return "".join(f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items()) + "\n"
                   for group, entries in groups.items())


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
