# shellcheck shell=bash
# Sourced by tests/run: starts an AWS Secrets Manager emulator on a free loopback port and exports
#   ROTOR_TEST_AWS_ENDPOINT   http://127.0.0.1:PORT (tests pass it to the SDK as the endpoint URL)
#   ROTOR_TEST_AWS_EMULATOR   localstack | moto
#   AWS_REGION, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (fake, local only)
#
# LocalStack runs in host mode (no Docker) from the pinned set in localstack-requirements.txt, which
# needs Python >= 3.12 (from pyenv when the default python3 is older). Only when no Python >= 3.12
# exists does it fall back to moto server (works on 3.11), and it says so. Installs are cached in
# $ROTOR_TOOLS and redone only when the pinned set changes.

_rotor_ls_dir="$ROTOR_ROOT/tests/services"

# The first Python >= 3.12 found: python3.13/python3.12 on PATH, then pyenv's versions.
_rotor_find_py312() {
  local c
  for c in python3.13 python3.12 python3; do
    if command -v "$c" >/dev/null 2>&1 &&
      "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$c"
      return 0
    fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in $(ls -d "$(pyenv root)"/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do
      if "$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
        echo "$c"
        return 0
      fi
    done
  fi
  return 1
}

# _rotor_venv DIR PYTHON REQUIREMENTS_FILE [PIP ARGS...]: (re)creates a cached venv when the
# requirements file changed since the last successful install.
_rotor_venv() {
  local dir=$1 py=$2 req=$3
  shift 3
  local stamp="$dir/.rotor-installed" want
  want=$(sha256sum "$req" | cut -d' ' -f1)
  if [ -x "$dir/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing $(basename "$req") into $dir (cached for later runs)"
  rm -rf "$dir"
  "$py" -m venv "$dir" || return 1
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" -r "$req" || return 1
  echo "$want" >"$stamp"
}

_rotor_start_localstack() {
  local py=$1 venv="$ROTOR_TOOLS/localstack-venv" port
  _rotor_venv "$venv" "$py" "$_rotor_ls_dir/localstack-requirements.txt" --no-deps || return 1
  port=$(free_port)
  mkdir -p "$ROTOR_RUN_DIR/localstack"
  (
    cd "$ROTOR_RUN_DIR/localstack" &&
      exec env FILESYSTEM_ROOT="$ROTOR_RUN_DIR/localstack/fs" DISABLE_EVENTS=1 \
        SERVICES=secretsmanager,lambda,iam,sts,events,logs,cloudwatch \
        GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
        "$venv/bin/python" -m localstack.runtime.main
  ) >"$ROTOR_RUN_DIR/localstack.log" 2>&1 &
  register_pid $!
  if ! wait_http "http://127.0.0.1:$port/_localstack/health" 120 '"secretsmanager": *"(available|running)"'; then
    log "LocalStack did not become ready; last lines of its log:"
    tail -n 40 "$ROTOR_RUN_DIR/localstack.log" >&2
    return 1
  fi
  ROTOR_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  ROTOR_TEST_AWS_EMULATOR=localstack
}

_rotor_start_moto() {
  local venv="$ROTOR_TOOLS/moto-venv" port
  _rotor_venv "$venv" python3 "$_rotor_ls_dir/moto-requirements.txt" || return 1
  port=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$ROTOR_RUN_DIR/moto.log" 2>&1 &
  register_pid $!
  if ! wait_http "http://127.0.0.1:$port/moto-api/" 60; then
    tail -n 40 "$ROTOR_RUN_DIR/moto.log" >&2
    return 1
  fi
  ROTOR_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  ROTOR_TEST_AWS_EMULATOR=moto
}

if _rotor_py312=$(_rotor_find_py312); then
  log "AWS emulator: LocalStack (host mode, $($_rotor_py312 --version 2>&1) at $_rotor_py312)"
  _rotor_start_localstack "$_rotor_py312" || { log "LocalStack failed to start"; exit 1; }
else
  log "AWS emulator: no Python >= 3.12 found, falling back to moto server (known gaps: see docs/aws.md)"
  _rotor_start_moto || { log "moto server failed to start"; exit 1; }
fi
log "AWS emulator ($ROTOR_TEST_AWS_EMULATOR) ready at $ROTOR_TEST_AWS_ENDPOINT"

export ROTOR_TEST_AWS_ENDPOINT ROTOR_TEST_AWS_EMULATOR
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
unset _rotor_py312
