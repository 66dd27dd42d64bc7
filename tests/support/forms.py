"""The connection forms as a JavaScript host sees them: the Node project in ``tests/forms`` (ajv, react-jsonschema-form,
esbuild, pinned by its lock file), run from Python.

:func:`ajv_validate` compiles schemas with Ajv2020 in strict mode and validates a corpus; :func:`build_form_page`
bundles a bare rjsf page into a folder, ready for a browser. Node.js and npm must be on ``PATH``: their absence fails
the test, it never skips it. Not a fixture module: tests import these helpers.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import pytest

from tests.support.paths import REPO_ROOT

FORMS_DIR: Final = REPO_ROOT / "tests" / "forms"
SCHEMAS_DIR: Final = REPO_ROOT / "schemas"
NPM_INSTALL_TIMEOUT_S: Final = 300.0
NODE_TIMEOUT_S: Final = 120.0


def _require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: the form tests need Node.js 20+ and npm (scripts/test.sh installs them)")
    return path


def ensure_node_modules() -> None:
    """Install the pinned packages with ``npm ci`` unless every pinned version is already installed."""
    pinned: Mapping[str, str] = json.loads((FORMS_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]
    modules = FORMS_DIR / "node_modules"

    def installed(name: str) -> str | None:
        manifest = modules / name / "package.json"
        return json.loads(manifest.read_text(encoding="utf-8"))["version"] if manifest.is_file() else None

    if all(installed(name) == version for name, version in pinned.items()):
        return
    command = [_require("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"]
    try:
        result = subprocess.run(
            command, cwd=FORMS_DIR, capture_output=True, text=True, timeout=NPM_INSTALL_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`npm ci` in {FORMS_DIR} took over {NPM_INSTALL_TIMEOUT_S:.0f} s")
    if result.returncode != 0:
        pytest.fail(f"`npm ci` in {FORMS_DIR} failed:\n{result.stdout}\n{result.stderr}")


def _node(*args: str, cwd: Path = FORMS_DIR) -> str:
    ensure_node_modules()
    result = subprocess.run(
        [_require("node"), *args], cwd=cwd, capture_output=True, text=True, timeout=NODE_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"node {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def ajv_validate(
    schemas: Mapping[str, Path], cases: Sequence[tuple[str, Any]], workdir: Path
) -> tuple[dict[str, str | None], list[dict[str, Any]]]:
    """Compile schemas with ajv (Ajv2020, strict, ajv-formats) and validate cases, in one node process.

    :param schemas: name -> schema file.
    :param cases: ``(schema name, instance)`` pairs.
    :param workdir: where the job file is written.
    :returns: per schema ``None`` (compiled) or ajv's error; per case ``{"valid": bool, "errors": [...]}``.
    """
    job = workdir / "ajv-job.json"
    job.write_text(
        json.dumps(
            {
                "schemas": {name: str(path) for name, path in schemas.items()},
                "cases": [{"schema": name, "data": data} for name, data in cases],
            }
        ),
        encoding="utf-8",
    )
    output = json.loads(_node("validate.mjs", str(job)))
    return output["compiled"], output["results"]


def build_form_page(target: Path) -> Path:
    """Bundle the bare rjsf page (``tests/forms/page``) into a folder.

    :param target: the folder; it receives ``form.js`` and ``form.css``.
    :returns: the bundle's path.
    """
    target.mkdir(parents=True, exist_ok=True)
    bundle = target / "form.js"
    _node("page/build.mjs", str(bundle))
    shutil.copyfile(FORMS_DIR / "page" / "form.css", target / "form.css")
    return bundle


def write_form_page(folder: Path, name: str, schema: Mapping[str, Any], ui_schema: Mapping[str, Any]) -> Path:
    """Write an HTML page that renders one schema with its UI schema through the bundle in ``folder``.

    :returns: the page's path (open it as a ``file://`` URL).
    """
    setup = json.dumps({"schema": schema, "uiSchema": ui_schema}).replace("</", "<\\/")
    page = folder / f"{name}.html"
    page.write_text(
        "<!doctype html><html><head><meta charset='utf-8'><title>"
        f"{schema.get('title', name)}</title><link rel='stylesheet' href='form.css'></head>"
        f"<body><main><h1>{schema.get('title', name)}</h1><div id='root'></div></main>"
        f"<script>window.FORM_SETUP = {setup};</script><script src='form.js'></script></body></html>",
        encoding="utf-8",
    )
    return page
