#!/usr/bin/env bash
# make controller: what an operator's controller needs to run the playbooks from this clone, and
# nothing of the test bench (no root, no Docker, no image): Ansible with the run-time requirements,
# and the link through which ansible.cfg resolves nextgen.rollout.* to this checkout.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# The Ansible this clone is tested with (requirements-dev.txt pins it; the ansible package brings the
# community collections the roles use).
ANSIBLE_PINS=("$(grep -E '^ansible-core==' "$ROOT/requirements-dev.txt")" "$(grep -E '^ansible==' "$ROOT/requirements-dev.txt")")

playbook=ansible-playbook
if command -v ansible-playbook >/dev/null 2>&1; then
  python="$(ansible --version | sed -n 's/^ *python version = .*(\(.*\))$/\1/p')"
  say "ansible: $(ansible --version | head -n 1) on ${python:-an unknown python}"
  if [ -n "$python" ] && ! "$python" -c 'import mitogen, cryptography' >/dev/null 2>&1; then
    say "warning: $python lacks mitogen or cryptography: the playbooks run with the builtin linear strategy" \
        "(slower), and the logging role cannot make its TLS material; install them: $python -m pip install -r $ROOT/requirements.txt"
  fi
else
  say "ansible: none on PATH; installing ${ANSIBLE_PINS[*]} and requirements.txt into .venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed" "install python3-venv"
  "$VENV/bin/pip" install -q "${ANSIBLE_PINS[@]}" -r "$ROOT/requirements.txt" \
    || die "pip install of Ansible and requirements.txt failed" "check that PyPI (or your mirror) is reachable"
  playbook="$VENV/bin/ansible-playbook"
fi

# The collections the roles use: the ansible package bundles them, ansible-core alone does not.
mapfile -t required < <(sed -n 's/^ *- name: *//p' "$ROOT/collections/requirements.yml")
if ! listed="$("$(dirname "$(command -v "$playbook")")/ansible-galaxy" collection list --format json 2>/dev/null)"; then
  die "ansible-galaxy collection list failed" "check the Ansible on your PATH (ansible --version)"
fi
missing="$(printf '%s' "$listed" | python3 -c 'import json, sys
have = set(name for path in json.load(sys.stdin).values() for name in path)
print(", ".join(name for name in sys.argv[1:] if name not in have))' "${required[@]}")"
[ -z "$missing" ] || die "this Ansible has no $missing, which the roles use (ansible-core alone has none)" \
  "ansible-galaxy collection install -r $ROOT/collections/requirements.yml, or pip install ansible (which bundles them)"
say "collections: ${required[*]} found"

link_collection
say "ready: from $ROOT, $playbook playbooks/prepare-hosts.yml -i YOUR_INVENTORY, then playbooks/blue-green-deploy.yml;" \
    "from another directory, with ANSIBLE_CONFIG=$ROOT/ansible.cfg"
