#!/usr/bin/env bash
# The stages of the suite, one place each. `scripts/test.sh` runs them all (make test);
# `scripts/test.sh lint sanity` runs only those (make lint, make sanity, ...). Setup is the
# Makefile's job and runs once, before this script.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
export ANSIBLE_CONFIG="$ROOT/ansible.cfg"
# Molecule scenarios in two lanes that run at once: their hosts, ports and networks differ, and
# they spend most of their time waiting for systemd, docker and ansible round trips.
MOLECULE_LANES=("canary backup nginx" "logging blue_green")
MOLECULE_LOGS="$ROOT/build/molecule-logs"
SANITY_DIR="$ROOT/build/ansible_collections/nextgen/rollout"

stage_lint() {
  say "lint: yamllint and ansible-lint (production profile)"
  # A copy of this collection in ~/.ansible/collections (older Molecule runs made one) would shadow
  # .collections (this checkout) in ansible-lint's syntax check.
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

molecule_lane() {
  local scenario
  for scenario in "$@"; do
    say "molecule: $scenario started (log: build/molecule-logs/$scenario.log)"
    if ! molecule test -s "$scenario" >"$MOLECULE_LOGS/$scenario.log" 2>&1; then
      echo "$scenario" >>"$MOLECULE_LOGS/failed"
      return 1
    fi
    say "molecule: $scenario passed"
  done
}

stage_molecule() {
  local lane pids=() failed=0 scenario
  rm -rf "$MOLECULE_LOGS" && mkdir -p "$MOLECULE_LOGS"
  for lane in "${MOLECULE_LANES[@]}"; do
    # shellcheck disable=SC2086  # a lane is a list of scenario names
    molecule_lane $lane &
    pids+=($!)
  done
  for lane in "${pids[@]}"; do wait "$lane" || failed=1; done
  if [ "$failed" = 1 ]; then
    while read -r scenario; do
      printf '\n----- molecule %s: last lines of build/molecule-logs/%s.log -----\n' "$scenario" "$scenario"
      tail -n 100 "$MOLECULE_LOGS/$scenario.log"
    done <"$MOLECULE_LOGS/failed"
    die "molecule scenario(s) failed: $(tr '\n' ' ' <"$MOLECULE_LOGS/failed")" \
        "read the log above; run one alone with: .venv/bin/molecule test -s <scenario>"
  fi
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
