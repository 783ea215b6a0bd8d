"""The API server imports no training-only library: scikit-learn (TF-IDF, k-means, the
propensity classifiers), implicit (iALS fitting) and matplotlib (the plots) are for `relevo
train` and `relevo evaluate`; serving reads what they produced as plain arrays. Checked in a
fresh interpreter, since this test process has imported them long ago."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

TRAINING_ONLY = ("sklearn", "implicit", "matplotlib")

_PROBE = """
import json, sys
from relevo.api.app import create_app
from relevo.settings import Settings
folder = sys.argv[1]
create_app(Settings(database_url=f"sqlite:///{folder}/relevo.db", models_dir=f"{folder}/m"))
print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
"""


def test_the_app_starts_without_training_only_libraries(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert "relevo" in loaded and "fastapi" in loaded  # the probe did start the app
    assert loaded.isdisjoint(TRAINING_ONLY), sorted(loaded & set(TRAINING_ONLY))
