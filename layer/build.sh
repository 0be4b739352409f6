#!/usr/bin/env bash
# Builds the deployable zips into dist/:
#   coldmark-layer-x86_64.zip   extensions/coldmark   (the layer: Lambda runs /opt/extensions/*)
#   coldmark-clock.zip          bootstrap             (the clock function, provided.al2023)
#   coldmark-layer-arm64.zip, coldmark-clock-arm64.zip   the same for Graviton, when the
#                                                        aarch64 Rust target can be installed
#
# Binaries are built with the workspace's `layer` profile (target/<triple>/layer/) and linked
# against glibc 2.17 symbols (cargo zigbuild's `.2.17` target suffix) so the
# layer runs on every Amazon Linux runtime, not only provided.al2023 (AL2 has glibc 2.26).
# Installs its own tools when missing: ziglang and cargo-zigbuild from PyPI (pinned), into the
# project's virtualenv target/venv (.ci/venv.sh).
#
# Environment: COLDMARK_DIST (output folder, default <repo>/dist),
#              COLDMARK_ARCHS ("x86_64 arm64" by default; e.g. "x86_64" to skip arm64).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${COLDMARK_DIST:-$ROOT/dist}"
ARCHS="${COLDMARK_ARCHS:-x86_64 arm64}"
ZIGLANG_VERSION=0.17.0
CARGO_ZIGBUILD_VERSION=0.24.0
GLIBC_FLOOR=2.17
PROFILE=layer

cd "$ROOT"
mkdir -p "$DIST"

# ziglang and cargo-zigbuild go into the project's virtualenv (target/venv): a Debian or Ubuntu
# Python refuses `pip install` outside one.
# shellcheck source=../.ci/venv.sh
source "$ROOT/.ci/venv.sh"
ensure_tools() {
  coldmark_venv "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
}

# rust_target ARCH: the Rust triple for a Lambda architecture name.
rust_target() {
  case "$1" in
    x86_64) echo x86_64-unknown-linux-gnu ;;
    arm64) echo aarch64-unknown-linux-gnu ;;
    *) echo "build: unknown architecture $1 (x86_64 | arm64)" >&2; return 1 ;;
  esac
}

# target_available TRIPLE: the host's own, installed already, or rustup can add it now.
target_available() {
  [[ "$1" == "$(rustc -vV | sed -n 's/^host: //p')" ]] && return 0
  rustup target list --installed 2>/dev/null | grep -qx "$1" && return 0
  rustup target add "$1" >/dev/null 2>&1
}

build_arch() {
  local arch="$1" triple suffix out
  triple="$(rust_target "$arch")"
  # The x86_64 function zip keeps the plain name the issue and the template use.
  suffix="-$arch"
  [[ "$arch" == x86_64 ]] && suffix=""
  if ! target_available "$triple"; then
    echo "build: $arch skipped: rustup cannot install the $triple target here; built the others only"
    # Stale zips from an earlier build would pass for this build's output.
    rm -f "$DIST/coldmark-layer-$arch.zip" "$DIST/coldmark-clock$suffix.zip"
    return 0
  fi
  # The layer's own profile ([profile.layer] in Cargo.toml: size-optimised, whole-program LTO,
  # one codegen unit); the workspace's release profile is the tools' faster one.
  cargo zigbuild --profile "$PROFILE" --target "$triple.$GLIBC_FLOOR" \
    -p coldmark-extension --bin coldmark -p coldmark-clock --bin bootstrap
  # Where cargo put them: CARGO_TARGET_DIR when set (relative to the workspace, as cargo reads
  # it from here), else the workspace's target/.
  out="${CARGO_TARGET_DIR:-target}/$triple/$PROFILE"
  [[ "$out" == /* ]] || out="$ROOT/$out"
  python3 "$ROOT/layer/zipkit.py" pack "$DIST/coldmark-layer-$arch.zip" \
    "extensions/coldmark=$out/coldmark"
  python3 "$ROOT/layer/zipkit.py" pack "$DIST/coldmark-clock$suffix.zip" "bootstrap=$out/bootstrap"
  echo "build: $arch -> $DIST/coldmark-layer-$arch.zip $DIST/coldmark-clock$suffix.zip"
}

ensure_tools
for arch in $ARCHS; do
  build_arch "$arch"
done
