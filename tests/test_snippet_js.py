"""The snippet's JavaScript unit tests (tests/js/, node's own runner), on its source and on the
file as /relevo.js serves it (comments and indentation removed), so both stay correct."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from relevo.snippet import snippet

JS_TESTS = Path(__file__).parent / "js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the snippet's JavaScript tests need `node --test`"
)


def _node_test(snippet_file: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if snippet_file is not None:
        env["RELEVO_SNIPPET"] = str(snippet_file)
    assert NODE is not None
    return subprocess.run(
        [NODE, "--test", str(JS_TESTS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_the_source_passes_its_javascript_tests() -> None:
    result = _node_test()
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


def test_the_served_file_passes_the_same_tests(tmp_path: Path) -> None:
    served = tmp_path / "relevo.js"
    served.write_bytes(snippet().body)
    result = _node_test(served)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout
