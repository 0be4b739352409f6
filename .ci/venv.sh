# The project's Python virtualenv: sourced by .ci/run and layer/build.sh, never run alone.
#
# Debian 12 and Ubuntu 23.04+ mark their Python "externally managed" (PEP 668): `pip install`
# into it is refused. Every Python tool the project uses (the AWS CLI, boto3, moto, cfn-lint,
# ziglang, cargo-zigbuild, rotel) is therefore installed, pinned, into one virtualenv of its own,
# `target/venv` (beside the build, removed by `cargo clean`), whose `bin/` goes first on PATH so
# `aws`, `python3` (with boto3 and moto) and `cargo-zigbuild` are the venv's.
#
# The venv is made from the system's interpreter (/usr/bin/python3) when there is one, so a stock
# Debian or Ubuntu works, and otherwise from the first Python 3.10+ on PATH
# (COLDMARK_PYTHON=/path/to/python3 chooses another). It needs the `venv` module with ensurepip:
# Debian's `python3-venv` package, which .ci/run installs through apt.

COLDMARK_VENV="${COLDMARK_VENV:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/venv}"

# coldmark_python: the interpreter the venv is made from; fails with a message when none fits.
coldmark_python() {
  local candidate
  for candidate in "${COLDMARK_PYTHON:-}" /usr/bin/python3 python3; do
    [[ -n "$candidate" ]] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
      2>/dev/null; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "venv: no Python 3.10 or newer found (set COLDMARK_PYTHON=/path/to/python3)" >&2
  return 1
}

# coldmark_venv PACKAGE==VERSION...: makes the venv when missing, installs the packages that are
# not yet there at their pinned versions, and puts its bin/ first on PATH.
coldmark_venv() {
  local python missing=() spec name
  if [[ ! -x "$COLDMARK_VENV/bin/python3" ]]; then
    python="$(coldmark_python)" || return 1
    echo "venv: creating $COLDMARK_VENV from $python ($("$python" --version 2>&1))" >&2
    if ! "$python" -m venv "$COLDMARK_VENV"; then
      rm -rf "$COLDMARK_VENV"
      echo "venv: '$python -m venv' failed; on Debian or Ubuntu: apt-get install python3-venv" >&2
      return 1
    fi
  fi
  export PATH="$COLDMARK_VENV/bin:$PATH"
  export VIRTUAL_ENV="$COLDMARK_VENV"
  hash -r
  for spec in "$@"; do
    name="${spec%%==*}"
    name="${name%%\[*}"
    [[ "$("$COLDMARK_VENV/bin/python3" -m pip show "$name" 2>/dev/null |
      sed -n 's/^Version: //p')" == "${spec##*==}" ]] || missing+=("$spec")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "venv: installing ${missing[*]}" >&2
  "$COLDMARK_VENV/bin/python3" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
  hash -r
}
