#!/usr/bin/env bash
# Sets up Kubernetes auth for the rotor rotator (run once, with an admin token, from a machine
# that can reach both Vault and the cluster):
#
#   VAULT_ADDR=… VAULT_TOKEN=… deploy/vault/setup-kubernetes-auth.sh [NAMESPACE] [SERVICE_ACCOUNT]
#
# Writes the `rotor` policy, enables auth/kubernetes (if not yet), points it at the cluster
# (KUBERNETES_HOST, default: the current kubectl context's server; the CA from the context), and
# creates role `rotor` bound to NAMESPACE/SERVICE_ACCOUNT (default rotor/rotor, as in
# deploy/kubernetes/). When Vault runs inside the cluster it can use its own pod's token as the
# reviewer (the default); otherwise set TOKEN_REVIEWER_JWT to a token allowed to create
# TokenReviews (ClusterRole system:auth-delegator).
#
# The pod then logs in with ROTOR_VAULT_AUTH=kubernetes ROTOR_VAULT_K8S_ROLE=rotor (the token file
# defaults to /var/run/secrets/kubernetes.io/serviceaccount/token).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ns="${1:-rotor}"
sa="${2:-rotor}"
cli="${VAULT_CLI:-$(command -v vault || command -v bao || true)}"
[ -n "$cli" ] || { echo "setup-kubernetes-auth: neither vault nor bao is on PATH" >&2; exit 1; }
: "${VAULT_ADDR:?set VAULT_ADDR}"
export BAO_ADDR="${BAO_ADDR:-$VAULT_ADDR}"
[ -z "${VAULT_TOKEN:-}" ] || export BAO_TOKEN="${BAO_TOKEN:-$VAULT_TOKEN}"

"$cli" policy write rotor "$here/rotor-policy.hcl"
if ! "$cli" auth list -format=json | grep -q '"kubernetes/"'; then
  "$cli" auth enable kubernetes
fi

config=()
if [ -n "${KUBERNETES_HOST:-}" ] || command -v kubectl >/dev/null 2>&1; then
  host="${KUBERNETES_HOST:-$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')}"
  config+=("kubernetes_host=$host")
  if command -v kubectl >/dev/null 2>&1; then
    ca_file="$(mktemp)"
    trap 'rm -f "$ca_file"' EXIT
    kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' \
      | base64 -d >"$ca_file"
    [ -s "$ca_file" ] && config+=("kubernetes_ca_cert=@$ca_file")
  fi
else
  echo "setup-kubernetes-auth: set KUBERNETES_HOST (no kubectl to ask)" >&2
  exit 1
fi
[ -z "${TOKEN_REVIEWER_JWT:-}" ] || config+=("token_reviewer_jwt=$TOKEN_REVIEWER_JWT")
"$cli" write auth/kubernetes/config "${config[@]}"

"$cli" write auth/kubernetes/role/rotor \
  bound_service_account_names="$sa" \
  bound_service_account_namespaces="$ns" \
  token_policies=rotor \
  token_ttl=1h token_max_ttl=4h
echo "setup-kubernetes-auth: role rotor bound to $ns/$sa with policy rotor" >&2
