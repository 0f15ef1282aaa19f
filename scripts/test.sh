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

# End-to-end modules in two lanes that run at once (three overloaded a 2-core machine: a simulated host died), balanced by duration: each module starts its
# own simulated hosts on its own ports, and most of their time is spent waiting on playbooks.
E2E_LANES=(
  "tests/e2e/test_crash_recovery.py tests/e2e/test_canary.py tests/e2e/test_ssh_registry.py tests/e2e/test_decision_matches_promtool.py tests/e2e/test_canary_promotion.py tests/e2e/test_event_driven_rollback.py tests/e2e/test_fleet.py tests/e2e/test_collection_build.py"
  "tests/e2e/test_own_services.py tests/e2e/test_logging_rollout.py tests/e2e/test_blue_green.py tests/e2e/test_backup_restore.py tests/e2e/test_awx_workflow.py tests/e2e/test_reference_service.py tests/e2e/test_host_preparation.py"
)
E2E_LOGS="$ROOT/build/e2e-logs"

stage_unit() { pytest tests/unit; }

stage_e2e() {
  local lane index=0 pids=() failed=0 listed
  rm -rf "$E2E_LOGS" && mkdir -p "$E2E_LOGS"
  listed="$(printf '%s ' "${E2E_LANES[@]}")"
  for module in tests/e2e/test_*.py; do
    case " $listed" in *" $module "*) ;; *) die "$module is in no e2e lane" "add it to E2E_LANES in scripts/test.sh";; esac
  done
  for lane in "${E2E_LANES[@]}"; do
    index=$((index + 1))
    say "e2e lane $index started (log: build/e2e-logs/lane-$index.log): $lane"
    # shellcheck disable=SC2086  # a lane is a list of test modules
    pytest -s $lane >"$E2E_LOGS/lane-$index.log" 2>&1 &
    pids+=($!)
  done
  index=0
  for lane in "${pids[@]}"; do
    index=$((index + 1))
    if wait "$lane"; then
      say "e2e lane $index passed: $(tail -n 1 "$E2E_LOGS/lane-$index.log")"
    else
      failed=1
      printf '\n----- e2e lane %d: last lines of build/e2e-logs/lane-%d.log -----\n' "$index" "$index"
      tail -n 150 "$E2E_LOGS/lane-$index.log"
    fi
  done
  for index in $(seq 1 ${#E2E_LANES[@]}); do
    # The tables the tests print (the kill matrix, the logging figures) stay visible in the output.
    if grep -q '^kill point ' "$E2E_LOGS/lane-$index.log"; then grep -A12 '^kill point ' "$E2E_LOGS/lane-$index.log"; fi
  done
  [ "$failed" = 0 ] || die "end-to-end tests failed" "read the lane logs above (build/e2e-logs/); run one module alone with: .venv/bin/pytest -s tests/e2e/<module>"
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
  say "pytest: unit tests, then the end-to-end tests in ${#E2E_LANES[@]} parallel lanes"
  stage_unit
  stage_e2e
}

stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=(checks e2e)
for stage in "${stages[@]}"; do
  declare -F "stage_$stage" >/dev/null || die "unknown stage: $stage" "use checks (static then unit, and molecule, at once), static (lint and sanity at once), lint, sanity, molecule, unit, e2e or pytest"
  "stage_$stage"
done
