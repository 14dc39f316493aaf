#!/usr/bin/env bash
# Install the page's front-end libraries from the npm lockfile (under `flock`, see
# setup_venv.sh). `npm ci` starts from an empty node_modules, so a half-made one
# from an interrupted install is replaced, never trusted.
set -euo pipefail
stamp=web/node_modules/.installed
if [ -f "$stamp" ] && [ "$stamp" -nt web/package-lock.json ] && [ "$stamp" -nt web/package.json ]; then
  exit 0
fi
(cd web && npm ci --no-audit --no-fund --loglevel=error)
touch "$stamp"
