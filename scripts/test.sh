#!/usr/bin/env bash
# make test: the whole suite. Each stage must pass; pytest (unit + end-to-end) runs last.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"

say "lint: yamllint and ansible-lint (production profile)"
yamllint -s .
ansible-lint --profile production

say "sanity: ansible-test sanity"
make --no-print-directory sanity

say "molecule scenarios"
make --no-print-directory molecule

say "pytest: unit and end-to-end tests"
pytest tests/unit tests/e2e
