#!/usr/bin/env bash
set -euo pipefail
source "$(dirname "$0")/lib.sh"
exec python "$ROOT/scripts/demo.py"
