#!/usr/bin/env bash
# Sets up Kubernetes auth for the rotor rotator (run once, with an admin token, from a machine
# that can reach both Vault and the cluster):
#
#   VAULT_ADDR=… VAULT_TOKEN=… deploy/vault/setup-kubernetes-auth.sh [NAMESPACE] [SERVICE_ACCOUNT]
#
# Writes the `rotor` policy, enables auth/kubernetes (if not yet), points it at the cluster
# (KUBERNETES_HOST and KUBERNETES_CA_CERT, default: the current kubectl context's server and CA), and
# creates role `rotor` bound to NAMESPACE/SERVICE_ACCOUNT (default rotor/rotor, as in
# deploy/kubernetes/) and to the token audience VAULT_K8S_AUDIENCE (default `vault`): only a
# token projected for Vault (deploy/kubernetes: volume `vault-token`, audience vault) logs in, not
# the pod's Kubernetes API token, and a token made for Vault is useless against the API server.
# Set VAULT_K8S_AUDIENCE= (empty) to accept any audience (not recommended).
# When Vault runs inside the cluster it can use its own pod's token as the reviewer (the
# default); otherwise set TOKEN_REVIEWER_JWT to a token allowed to create
# TokenReviews (ClusterRole system:auth-delegator).
#
# The pod then logs in with ROTOR_VAULT_AUTH=kubernetes ROTOR_VAULT_K8S_ROLE=rotor
# ROTOR_VAULT_K8S_TOKEN_FILE=/var/run/secrets/vault/token (the projected token; the default file,
# /var/run/secrets/kubernetes.io/serviceaccount/token, holds the API server's audience instead).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ns="${1:-rotor}"
sa="${2:-rotor}"
audience="${VAULT_K8S_AUDIENCE-vault}"
cli="${VAULT_CLI:-$(command -v vault || command -v bao || true)}"
[ -n "$cli" ] || { echo "setup-kubernetes-auth: neither vault nor bao is on PATH" >&2; exit 1; }
: "${VAULT_ADDR:?set VAULT_ADDR}"
export BAO_ADDR="${BAO_ADDR:-$VAULT_ADDR}"
[ -z "${VAULT_TOKEN:-}" ] || export BAO_TOKEN="${BAO_TOKEN:-$VAULT_TOKEN}"

"$cli" policy write rotor "$here/rotor-policy.hcl"
# (Read the list first: `grep -q` in a pipeline can end the CLI with SIGPIPE under pipefail.)
auths="$("$cli" auth list -format=json)"
if ! grep -q '"kubernetes/"' <<<"$auths"; then
  "$cli" auth enable kubernetes
fi

# The cluster's API server and CA: KUBERNETES_HOST and KUBERNETES_CA_CERT (a PEM file), or else
# the current kubectl context's.
host="${KUBERNETES_HOST:-}"
ca_file="${KUBERNETES_CA_CERT:-}"
if { [ -z "$host" ] || [ -z "$ca_file" ]; } && command -v kubectl >/dev/null 2>&1 &&
  kubectl config current-context >/dev/null 2>&1; then
  [ -n "$host" ] || host="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
  if [ -z "$ca_file" ]; then
    ca_tmp="$(mktemp)"
    trap 'rm -f "$ca_tmp"' EXIT
    kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
      | base64 -d >"$ca_tmp"
    [ ! -s "$ca_tmp" ] || ca_file="$ca_tmp"
  fi
fi
[ -n "$host" ] || { echo "setup-kubernetes-auth: set KUBERNETES_HOST (no kubectl context to ask)" >&2; exit 1; }
config=("kubernetes_host=$host")
[ -z "$ca_file" ] || config+=("kubernetes_ca_cert=@$ca_file")
[ -z "${TOKEN_REVIEWER_JWT:-}" ] || config+=("token_reviewer_jwt=$TOKEN_REVIEWER_JWT")
"$cli" write auth/kubernetes/config "${config[@]}"

role=(
  bound_service_account_names="$sa"
  bound_service_account_namespaces="$ns"
  token_policies=rotor
  token_ttl=1h token_max_ttl=4h
  audience="$audience"              # empty clears it: any audience
)
"$cli" write auth/kubernetes/role/rotor "${role[@]}"
echo "setup-kubernetes-auth: role rotor bound to $ns/$sa (audience ${audience:-any}) with policy rotor" >&2
