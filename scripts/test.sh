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

# Lint and sanity use about one core each: they run at once, each into its own log.
stage_static() {
  local logs="$ROOT/build/static-logs" name pids=() failed_checks=()
  mkdir -p "$logs"
  say "lint and sanity at once (logs: build/static-logs/)"
  stage_lint >"$logs/lint.log" 2>&1 & pids+=($!)
  stage_sanity >"$logs/sanity.log" 2>&1 & pids+=($!)
  wait "${pids[0]}" || failed_checks+=(lint)
  wait "${pids[1]}" || failed_checks+=(sanity)
  for name in lint sanity; do
    case " ${failed_checks[*]} " in
      *" $name "*) printf '\n----- %s: last lines of build/static-logs/%s.log -----\n' "$name" "$name"; tail -n 60 "$logs/$name.log";;
      *) say "$name passed";;
    esac
  done
  [ ${#failed_checks[@]} = 0 ] || die "${failed_checks[*]} failed" "read the log above; run it alone with: scripts/test.sh ${failed_checks[0]}"
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

# End-to-end modules run in two lanes at once (three overloaded a 2-core machine: a simulated host
# died). Each module starts its own simulated hosts on its own ports and spends most of its time
# waiting on playbooks. The lanes take the next module from one queue as they finish one, longest
# first (as measured on 2 cores: 435 s down to 9 s), so they end within a short module of each
# other whatever the machine's speed.
E2E_MODULES=(
  own_services crash_recovery fleet blue_green ssh_registry canary backup_restore host_preparation
  logging_rollout awx_workflow collection_build canary_promotion event_driven_rollback
  reference_service decision_matches_promtool
)
E2E_LANE_COUNT=2
E2E_LOGS="$ROOT/build/e2e-logs"

stage_unit() { pytest tests/unit; }

# The next module of the queue (build/e2e-logs/queue holds how many were taken), or nothing left.
next_e2e_module() {
  (
    flock 9
    local taken
    taken="$(cat "$E2E_LOGS/queue")"
    [ "$taken" -lt ${#E2E_MODULES[@]} ] || exit 1
    echo $((taken + 1)) >"$E2E_LOGS/queue"
    echo "tests/e2e/test_${E2E_MODULES[$taken]}.py"
  ) 9>"$E2E_LOGS/queue.lock"
}

e2e_lane() {
  local index=$1 module started log
  while module="$(next_e2e_module)"; do
    log="$E2E_LOGS/$(basename "$module" .py).log"
    say "e2e lane $index: $module started (log: build/e2e-logs/$(basename "$log"))"
    started=$(date +%s)
    if pytest -s "$module" >"$log" 2>&1; then
      say "e2e lane $index: $module passed in $(( $(date +%s) - started )) s: $(tail -n 1 "$log")"
    else
      echo "$module" >>"$E2E_LOGS/failed"
      say "e2e lane $index: $module FAILED in $(( $(date +%s) - started )) s"
    fi
  done
}

stage_e2e() {
  local module index pids=() started
  rm -rf "$E2E_LOGS" && mkdir -p "$E2E_LOGS" && echo 0 >"$E2E_LOGS/queue"
  for module in tests/e2e/test_*.py; do
    module="$(basename "$module" .py)"
    case " ${E2E_MODULES[*]} " in *" ${module#test_} "*) ;; *) die "$module is not in the e2e queue" "add ${module#test_} to E2E_MODULES in scripts/test.sh";; esac
  done
  started=$(date +%s)
  for index in $(seq 1 "$E2E_LANE_COUNT"); do
    e2e_lane "$index" &
    pids+=($!)
  done
  for index in "${pids[@]}"; do wait "$index"; done
  say "e2e: ${#E2E_MODULES[@]} modules in $(( $(date +%s) - started )) s"
  for module in "${E2E_MODULES[@]}"; do
    # The tables the tests print (the kill matrix) stay visible in the output.
    if grep -q '^kill point ' "$E2E_LOGS/test_$module.log"; then grep -A12 '^kill point ' "$E2E_LOGS/test_$module.log"; fi
  done
  if [ -s "$E2E_LOGS/failed" ]; then
    while read -r module; do
      printf '\n----- %s: last lines of build/e2e-logs/%s.log -----\n' "$module" "$(basename "$module" .py)"
      tail -n 150 "$E2E_LOGS/$(basename "$module" .py).log"
    done <"$E2E_LOGS/failed"
    die "end-to-end tests failed: $(tr '\n' ' ' <"$E2E_LOGS/failed")" "read the logs above (build/e2e-logs/); run one module alone with: .venv/bin/pytest -s tests/e2e/<module>"
  fi
}

# Lint and sanity keep about one core each busy for two minutes, while the molecule scenarios mostly
# wait on systemd, docker and ansible round trips: the two stages run at once. The unit tests follow
# lint and sanity, within the three minutes the molecule scenarios take after them.
stage_checks() {
  local pids=() failed=0 pid
  { stage_static && say "pytest: unit tests" && stage_unit; } & pids+=($!)
  stage_molecule & pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || die "static checks, unit tests or molecule scenarios failed" "read the errors above"
}

stage_pytest() {
  say "pytest: unit tests, then the end-to-end tests in $E2E_LANE_COUNT parallel lanes"
  stage_unit
  stage_e2e
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(checks e2e)
for stage in "${stages[@]}"; do
  declare -F "stage_$stage" >/dev/null || die "unknown stage: $stage" "use checks (static then unit, and molecule, at once), static (lint and sanity at once), lint, sanity, molecule, unit, e2e or pytest"
  "stage_$stage"
done
