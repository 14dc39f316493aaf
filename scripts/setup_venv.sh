#!/usr/bin/env bash
# Make (or repair) the project's virtualenv. Run under `flock` by the Makefile, so
# several `make` targets started at once (make web & make worker on a fresh clone)
# take turns: the first installs, the others find it done.
set -euo pipefail
python=$1 venv=$2 extras=$3
stamp=$venv/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ] && "$venv/bin/python" -c "" 2>/dev/null; then
  exit 0  # made while we waited for the lock
fi
# A venv left half-made by an interrupted run (no python, or no working pip) is not
# trusted: start it again. One whose install stopped midway just installs again.
if [ -e "$venv" ] && ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  echo "setup: $venv is incomplete; making it again"
  rm -rf "$venv"
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q -e ".[$extras]"
touch "$stamp"
