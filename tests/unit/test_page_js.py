"""The page's pure JavaScript modules (protocol client, saved-chat store, the service worker's
verification), tested with Node's own runner on the built dist/ (tests/js/)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_javascript_unit_tests_pass():
    if not (ROOT / "dist" / "protocol.js").exists():
        pytest.fail("dist/ is not built: run `python build.py build` (python build.py test builds it first).")
    node = shutil.which("node")
    assert node, "Node.js is needed for the page's JavaScript tests."
    result = subprocess.run([node, "--test", "tests/js/"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout
