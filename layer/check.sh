#!/usr/bin/env bash
# Checks the zips that layer/build.sh made, as Lambda will meet them:
#   - layout and modes: the layer holds extensions/coldmark, the function zip holds bootstrap,
#     both regular files with mode 0755, nothing else;
#   - each binary is for the zip's architecture and needs no glibc newer than 2.26 (Amazon
#     Linux 2, the oldest runtime family still supported), and links no OpenSSL;
#   - each zip is at most 1.5 MB (1,500,000 bytes): the layer is downloaded in every cold start;
#   - the x86_64 extension starts outside Lambda and exits 0 with a warning (it must never break
#     a function's init); the arm64 one too, under qemu-aarch64-static when that is installed;
#   - cfn-lint passes on layer/template.yaml.
# Prints the figures table (zip bytes, binary bytes, glibc floor) for BENCHMARKS.md.
# `check.sh --figures` prints only the table. Exits non-zero on the first failed check kind,
# after printing every failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# cfn-lint lives in the project's virtualenv (.ci/venv.sh) when .ci/run or build.sh made one.
[[ -d "$ROOT/target/venv/bin" ]] && PATH="$ROOT/target/venv/bin:$PATH"
DIST="${COLDMARK_DIST:-$ROOT/dist}"
# 1.5 MB: the layer was 1.41 MB before the OTLP sink, 1.50 MB with it (the 1.6 MB that sink was
# given), and 1.45 MB since host names are ASCII only (no Unicode tables; docs/configuration.md).
MAX_ZIP_BYTES=1500000
MAX_GLIBC=2.26
ZIPKIT="$ROOT/layer/zipkit.py"
FIGURES_ONLY=false
[[ "${1:-}" == "--figures" ]] && FIGURES_ONLY=true

failures=0
fail() { echo "check: FAIL: $*"; failures=$((failures + 1)); }
ok() { $FIGURES_ONLY || echo "check: ok: $*"; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# zip  entry  arch  role
ARTIFACTS=(
  "coldmark-layer-x86_64.zip extensions/coldmark x86_64 layer"
  "coldmark-clock.zip bootstrap x86_64 function"
  "coldmark-layer-arm64.zip extensions/coldmark arm64 layer"
  "coldmark-clock-arm64.zip bootstrap arm64 function"
)

# glibc_floor BINARY: the highest GLIBC_x.y version the binary's dynamic section requires.
glibc_floor() {
  readelf --version-info --wide "$1" | grep -oE 'GLIBC_[0-9]+(\.[0-9]+)+' |
    sed 's/GLIBC_//' | sort -uV | tail -n1
}

version_le() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$1" ]]; }

declare -a ROWS=()
for spec in "${ARTIFACTS[@]}"; do
  read -r zip entry arch role <<<"$spec"
  path="$DIST/$zip"
  if [[ ! -f "$path" ]]; then
    if [[ "$arch" == x86_64 ]]; then
      fail "$zip missing: run bash layer/build.sh first"
    else
      $FIGURES_ONLY || echo "check: skip: $zip not built (arm64 target unavailable?)"
    fi
    continue
  fi

  listing="$(python3 "$ZIPKIT" list "$path")"
  if [[ "$listing" == "$entry 0755 file "* && "$(wc -l <<<"$listing")" -eq 1 ]]; then
    ok "$zip holds only $entry, a regular file with mode 0755"
  else
    fail "$zip must hold only $entry (regular file, 0755); it holds: $listing"
  fi

  zip_bytes="$(stat -c %s "$path")"
  if ((zip_bytes <= MAX_ZIP_BYTES)); then
    ok "$zip is $zip_bytes bytes (limit $MAX_ZIP_BYTES)"
  else
    fail "$zip is $zip_bytes bytes, over the $MAX_ZIP_BYTES-byte limit"
  fi

  bin="$WORK/$arch-$role"
  python3 "$ZIPKIT" extract "$path" "$entry" "$bin"
  bin_bytes="$(stat -c %s "$bin")"

  machine="$(readelf --file-header "$bin" | sed -n 's/^ *Machine: *//p')"
  case "$arch:$machine" in
    x86_64:*X86-64* | arm64:AArch64) ok "$zip binary is $machine" ;;
    *) fail "$zip binary is for '$machine', not $arch" ;;
  esac

  floor="$(glibc_floor "$bin")"
  if [[ -z "$floor" ]]; then
    fail "$zip binary requires no GLIBC_ version: is it a glibc binary at all?"
  elif version_le "$floor" "$MAX_GLIBC"; then
    ok "$zip binary needs glibc $floor (limit $MAX_GLIBC)"
  else
    fail "$zip binary needs glibc $floor, newer than $MAX_GLIBC"
  fi

  if readelf --dynamic "$bin" | grep -qE 'NEEDED.*lib(ssl|crypto)\.so'; then
    fail "$zip binary links OpenSSL; the layer must use rustls"
  fi

  ROWS+=("$(printf '| %-28s | %-6s | %-8s | %9s | %12s | %-11s |' \
    "$zip" "$arch" "$role" "$zip_bytes" "$bin_bytes" "$floor")")
done

# run_outside_lambda LABEL CMD...: the extension with no Lambda around it must exit 0 and warn.
run_outside_lambda() {
  local label="$1" out rc
  shift
  set +e
  out="$(env -u AWS_LAMBDA_RUNTIME_API timeout 20 "$@" 2>&1)"
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    fail "$label outside Lambda exited $rc (must exit 0): $(head -c 400 <<<"$out")"
  elif [[ -z "$out" ]]; then
    fail "$label outside Lambda exited 0 but printed no warning"
  else
    ok "$label outside Lambda exits 0 and warns: $(head -n1 <<<"$out")"
  fi
}

if ! $FIGURES_ONLY; then
  if [[ -x "$WORK/x86_64-layer" ]]; then
    run_outside_lambda "x86_64 extension" "$WORK/x86_64-layer"
  fi
  if [[ -x "$WORK/arm64-layer" ]]; then
    if command -v qemu-aarch64-static >/dev/null && [[ -d /usr/aarch64-linux-gnu ]]; then
      run_outside_lambda "arm64 extension (qemu)" \
        qemu-aarch64-static -L /usr/aarch64-linux-gnu "$WORK/arm64-layer"
    else
      echo "check: skip: arm64 extension not run: qemu-aarch64-static or libc6-arm64-cross missing"
    fi
  fi

  if command -v cfn-lint >/dev/null; then
    if lint="$(cfn-lint "$ROOT/layer/template.yaml" 2>&1)"; then
      ok "cfn-lint layer/template.yaml"
    else
      fail "cfn-lint layer/template.yaml:"$'\n'"$lint"
    fi
  else
    fail "cfn-lint not installed (.ci/run installs it into target/venv)"
  fi
fi

echo
echo "| artifact                     | arch   | role     | zip bytes | binary bytes | glibc floor |"
echo "|------------------------------|--------|----------|-----------|--------------|-------------|"
for row in "${ROWS[@]}"; do echo "$row"; done

if ((failures > 0)); then
  echo "check: $failures check(s) failed"
  exit 1
fi
