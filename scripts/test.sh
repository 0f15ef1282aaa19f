#!/usr/bin/env bash
# The stages of the suite, one place each. `scripts/test.sh` runs them all (make test);
# `scripts/test.sh lint sanity` runs only those (make lint, make sanity, ...). Setup is the
# Makefile's job and runs once, before this script.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
MOLECULE_SCENARIOS=(nginx blue_green canary backup logging)
SANITY_DIR="$ROOT/build/ansible_collections/nextgen/rollout"

stage_lint() {
  say "lint: yamllint and ansible-lint (production profile)"
  # Molecule's ansible-compat installs a copy of this collection in ~/.ansible/collections; a copy
  # left by an earlier run would shadow .collections (this checkout) in ansible-lint's syntax check.
  rm -rf "$HOME/.ansible/collections/ansible_collections/nextgen/rollout"
  yamllint -s .
  ansible-lint --profile production
}

stage_sanity() {
  # ansible-test wants the collection under ansible_collections/<namespace>/<name>: copy what git tracks.
  say "sanity: ansible-test sanity"
  rm -rf "$SANITY_DIR" && mkdir -p "$SANITY_DIR"
  git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$SANITY_DIR"
  (cd "$SANITY_DIR" && git init -q && git add -A && ansible-test sanity --requirements --python 3.11)
}

stage_molecule() {
  for scenario in "${MOLECULE_SCENARIOS[@]}"; do
    say "molecule: $scenario"
    molecule test -s "$scenario"
  done
}

stage_unit() { pytest tests/unit; }
stage_e2e() { pytest tests/e2e; }
stage_pytest() {
  say "pytest: unit and end-to-end tests"
  pytest tests/unit tests/e2e
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(lint sanity molecule pytest)
for stage in "${stages[@]}"; do
  declare -F "stage_$stage" >/dev/null || die "unknown stage: $stage" "use lint, sanity, molecule, unit, e2e or pytest"
  "stage_$stage"
done
