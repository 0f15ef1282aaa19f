#!/usr/bin/env bash
# Builds the local images (no registry here): base, simulated host, reference service versions.
# Each image carries the sha256 of its recipe as a label and is rebuilt only when that changes.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE_IMAGE=nextgen/base:bookworm
HOST_ROOTFS_IMAGE=nextgen/host-rootfs:bookworm
HOST_IMAGE=nextgen/host:bookworm
read -r -a APP_VERSIONS <<<"${APP_VERSIONS:-1.0.0 1.1.0 1.2.0}"
SERVICES_IMAGE=nextgen/services:bookworm
EXAMPLE_VERSIONS=(1.0.0 1.1.0)
BUILD_DIR="${TMPDIR:-/tmp}/nextgen-images"

recipe_hash() { cat "$@" | sha256sum | cut -c1-16; }
image_recipe() { docker image inspect -f '{{ index .Config.Labels "nextgen.rollout.recipe" }}' "$1" 2>/dev/null || true; }

debootstrap_image() {  # name packages-file recipe-hash [CMD json] [Debian suite]
  local image="$1" packages="$2" hash="$3" cmd="${4:-}" suite="${5:-bookworm}" rootfs="$BUILD_DIR/${1//[:\/]/_}"
  if [ "$(image_recipe "$image")" = "$hash" ]; then say "image $image: up to date"; return; fi
  say "image $image: debootstrap $suite ($(tr -d '\n' <"$packages"))"
  rm -rf "$rootfs"; mkdir -p "$rootfs"
  if ! debootstrap --variant=minbase --include="$(tr -d '\n' <"$packages")" "$suite" "$rootfs" >"$rootfs.log" 2>&1; then
    tail -n 15 "$rootfs.log" >&2
    rm -rf "$rootfs"
    die "debootstrap of $image failed (log: $rootfs.log)" \
        "check that Debian's archive is reachable and that $BUILD_DIR has ~1 GB free, then run make setup again"
  fi
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  local changes=(--change "LABEL nextgen.rollout.recipe=$hash")
  [ -n "$cmd" ] && changes+=(--change "CMD $cmd")
  tar -C "$rootfs" -c . | docker import "${changes[@]}" - "$image" >/dev/null \
    || die "docker import of $image failed" "check the docker engine (docker info) and free disk"
  rm -rf "$rootfs" "$rootfs.log"
}

build_host() {
  local compose ctx hash
  compose="$(readlink -f "$HOME/.docker/cli-plugins/docker-compose")"
  hash="$(recipe_hash "$ROOT/images/host/Dockerfile" "$ROOT/images/host/daemon.json" "$ROOT/images/host/packages.txt" "$ROOT/scripts/images.sh" <(docker compose version --short))"
  if [ "$(image_recipe "$HOST_IMAGE")" = "$hash" ]; then say "image $HOST_IMAGE: up to date"; return; fi
  debootstrap_image "$HOST_ROOTFS_IMAGE" "$ROOT/images/host/packages.txt" \
    "$(recipe_hash "$ROOT/images/host/packages.txt")" '["/lib/systemd/systemd"]'
  ctx="$(mktemp -d)"
  cp "$ROOT/images/host/Dockerfile" "$ROOT/images/host/daemon.json" "$ctx/"
  cp "$compose" "$ctx/docker-compose"
  say "image $HOST_IMAGE: building"
  docker build -q --label "nextgen.rollout.recipe=$hash" -t "$HOST_IMAGE" "$ctx" >/dev/null \
    || die "docker build of $HOST_IMAGE failed" "run: docker build $ctx to see the error"
  rm -rf "$ctx"
}

build_app() {
  local version="$1" image="agent-loop:$1" hash
  hash="$(recipe_hash "$ROOT/examples/agent-loop/Dockerfile" "$ROOT/examples/agent-loop/app.py" <(image_recipe "$BASE_IMAGE") <(echo "$version"))"
  if [ "$(image_recipe "$image")" = "$hash" ]; then say "image $image: up to date"; return; fi
  say "image $image: building"
  docker build -q --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "APP_VERSION=$version" \
    --label "nextgen.rollout.recipe=$hash" -t "$image" "$ROOT/examples/agent-loop" >/dev/null \
    || die "docker build of $image failed" "run: docker build $ROOT/examples/agent-loop to see the error"
}

# Services that are not the reference one, FROM an image of Debian packages (lighttpd, redis):
# examples/<name> is built as <name>:<version>, its version passed as the build argument <ARG>.
build_example() {  # name version build-arg
  local name="$1" version="$2" arg="$3" image="$1:$2" hash
  hash="$(recipe_hash "$ROOT"/examples/"$name"/* <(image_recipe "$SERVICES_IMAGE") <(echo "$version"))"
  if [ "$(image_recipe "$image")" = "$hash" ]; then say "image $image: up to date"; return; fi
  say "image $image: building"
  docker build -q --build-arg "SERVICES_IMAGE=$SERVICES_IMAGE" --build-arg "$arg=$version" \
    --label "nextgen.rollout.recipe=$hash" -t "$image" "$ROOT/examples/$name" >/dev/null \
    || die "docker build of $image failed" "run: docker build $ROOT/examples/$name to see the error"
}

# Bare hosts of the Debian releases prepare-hosts.yml supports (images/bare/releases.txt).
mapfile -t BARE_RELEASES <"$ROOT/images/bare/releases.txt"
build_bare() {  # Debian suite
  local release="$1" image="nextgen/bare:$1" hash
  hash="$(recipe_hash "$ROOT/images/bare/Dockerfile" "$ROOT/images/bare/packages.txt" <(echo "$release"))"
  if [ "$(image_recipe "$image")" = "$hash" ]; then say "image $image: up to date"; return; fi
  debootstrap_image "nextgen/bare-rootfs:$release" "$ROOT/images/bare/packages.txt" \
    "$(recipe_hash "$ROOT/images/bare/packages.txt" <(echo "$release"))" '["/lib/systemd/systemd"]' "$release"
  say "image $image: building"
  docker build -q --build-arg "ROOTFS_IMAGE=nextgen/bare-rootfs:$release" --label "nextgen.rollout.recipe=$hash" \
    -t "$image" "$ROOT/images/bare" >/dev/null \
    || die "docker build of $image failed" "run: docker build $ROOT/images/bare to see the error"
}

REGISTRY_IMAGE=nextgen/registry:2.8
build_registry() {
  local hash
  hash="$(recipe_hash "$ROOT/images/registry/Dockerfile" <(image_recipe "$SERVICES_IMAGE"))"
  if [ "$(image_recipe "$REGISTRY_IMAGE")" = "$hash" ]; then say "image $REGISTRY_IMAGE: up to date"; return; fi
  say "image $REGISTRY_IMAGE: building"
  docker build -q --build-arg "SERVICES_IMAGE=$SERVICES_IMAGE" --label "nextgen.rollout.recipe=$hash" \
    -t "$REGISTRY_IMAGE" "$ROOT/images/registry" >/dev/null \
    || die "docker build of $REGISTRY_IMAGE failed" "run: docker build $ROOT/images/registry to see the error"
}

docker_ready || die "the docker engine does not answer" "run make setup (it starts dockerd)"
mkdir -p "$BUILD_DIR"
debootstrap_image "$BASE_IMAGE" "$ROOT/images/base/packages.txt" "$(recipe_hash "$ROOT/images/base/packages.txt")"
build_host
for version in "${APP_VERSIONS[@]}"; do build_app "$version"; done
debootstrap_image "$SERVICES_IMAGE" "$ROOT/images/services/packages.txt" "$(recipe_hash "$ROOT/images/services/packages.txt")"
for version in "${EXAMPLE_VERSIONS[@]}"; do
  build_example static-site "$version" SITE_VERSION
  build_example counter "$version" COUNTER_VERSION
done
build_example redis 7.0 REDIS_VERSION
build_registry
for release in "${BARE_RELEASES[@]}"; do build_bare "$release"; done
