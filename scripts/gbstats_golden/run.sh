#!/bin/sh
# Regenerates tests/fixtures/gbstats_golden.json with gbstats 0.8.0 in a virtualenv of its own
# (gbstats pins numpy<2 and pandas<2; Relevo's own venv must not get them).
#   scripts/gbstats_golden/run.sh            venv in /tmp/gbstats-venv
#   GBSTATS_VENV=/somewhere scripts/gbstats_golden/run.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
venv=${GBSTATS_VENV:-/tmp/gbstats-venv}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -W ignore::RuntimeWarning "$here/generate.py" "$@"
