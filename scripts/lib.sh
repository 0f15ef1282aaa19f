# shellcheck shell=bash
# Shared helpers for the project's shell scripts (sourced, not run).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
export PATH="$VENV/bin:$PATH"
export DOCKER_BUILDKIT=0   # the engine from Debian 12 has no buildx; use the classic builder

say()  { printf '\033[1m==> %s\033[0m\n' "$*"; }
die()  { printf '\nERROR: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'What to do: %s\n' "$2" >&2; exit 1; }

docker_ready() { docker info >/dev/null 2>&1; }

# ansible.cfg's collections_path points at .collections, so nextgen.rollout.* resolves to this checkout.
link_collection() {
  mkdir -p "$ROOT/.collections/ansible_collections/nextgen"
  ln -sfn ../../.. "$ROOT/.collections/ansible_collections/nextgen/rollout"
  say "collection: nextgen.rollout resolves from .collections/ (ansible.cfg's collections_path)"
}
