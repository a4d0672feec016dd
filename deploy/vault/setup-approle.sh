#!/usr/bin/env bash
# Sets up AppRole auth for the rotor rotator on Vault or OpenBao.
#
#   VAULT_ADDR=https://vault.example:8200 VAULT_TOKEN=<admin token> deploy/vault/setup-approle.sh [OUT_DIR]
#
# Writes the `rotor` policy (rotor-policy.hcl beside this script), enables AppRole at
# auth/approle (if not yet), creates role `rotor` (token TTL 1h, max 4h, renewable; secret ids
# valid 30 days) and writes OUT_DIR/role-id and OUT_DIR/secret-id (mode 0600) for
#   ROTOR_VAULT_ROLE_ID_FILE=OUT_DIR/role-id ROTOR_VAULT_SECRET_ID_FILE=OUT_DIR/secret-id
# Works with the `vault` or `bao` CLI (whichever is on PATH; set VAULT_CLI to choose).
#
# Response wrapping (WRAP_TTL=5m, any Vault duration): the secret id is not written in clear;
# OUT_DIR/secret-id.wrapped holds a single-use wrapping token instead, valid WRAP_TTL. Hand that
# token to the machine that runs rotor (your deployment tooling, the trusted broker) and unwrap it
# there, once, into the file rotor reads:
#   umask 077; VAULT_TOKEN="$(cat secret-id.wrapped)" vault unwrap -field=secret_id >secret-id
#   (OpenBao: BAO_TOKEN="$(cat secret-id.wrapped)" bao unwrap -field=secret_id >secret-id)
# If the unwrap fails because the token was already used, someone else saw the secret id:
# destroy it (auth/approle/role/rotor/secret-id-accessor/destroy) and make a new one.
# rotor itself reads a plain secret id; it does not unwrap.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-./rotor-approle}"
cli="${VAULT_CLI:-$(command -v vault || command -v bao || true)}"
[ -n "$cli" ] || { echo "setup-approle: neither vault nor bao is on PATH" >&2; exit 1; }
: "${VAULT_ADDR:?set VAULT_ADDR}"
export BAO_ADDR="${BAO_ADDR:-$VAULT_ADDR}"
[ -z "${VAULT_TOKEN:-}" ] || export BAO_TOKEN="${BAO_TOKEN:-$VAULT_TOKEN}"

"$cli" policy write rotor "$here/rotor-policy.hcl"
# (Read the list first: `grep -q` in a pipeline can end the CLI with SIGPIPE under pipefail.)
auths="$("$cli" auth list -format=json)"
if ! grep -q '"approle/"' <<<"$auths"; then
  "$cli" auth enable approle
fi
"$cli" write auth/approle/role/rotor \
  token_policies=rotor \
  token_ttl=1h token_max_ttl=4h \
  secret_id_ttl=720h secret_id_num_uses=0

umask 077
mkdir -p "$out"
"$cli" read -field=role_id auth/approle/role/rotor/role-id >"$out/role-id"
if [ -n "${WRAP_TTL:-}" ]; then
  "$cli" write -f -wrap-ttl="$WRAP_TTL" -field=wrapping_token auth/approle/role/rotor/secret-id \
    >"$out/secret-id.wrapped"
  echo "setup-approle: wrote $out/role-id and $out/secret-id.wrapped (a wrapping token valid $WRAP_TTL, mode 0600)." >&2
  echo "setup-approle: unwrap it where rotor runs: VAULT_TOKEN=\"\$(cat secret-id.wrapped)\" vault unwrap -field=secret_id >secret-id" >&2
else
  "$cli" write -f -field=secret_id auth/approle/role/rotor/secret-id >"$out/secret-id"
  echo "setup-approle: wrote $out/role-id and $out/secret-id (mode 0600)." >&2
fi
echo "setup-approle: run rotor with ROTOR_VAULT_ROLE_ID_FILE=$out/role-id ROTOR_VAULT_SECRET_ID_FILE=$out/secret-id" >&2
