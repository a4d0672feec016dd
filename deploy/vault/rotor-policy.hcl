# Least-privilege policy for the rotor rotator (Vault / OpenBao, KV v2 mounted at `secret/`).
#
# rotor manages the secrets under secret/openrouter/*: applications read
# secret/data/openrouter/<app> (latest version = the current, tested key). Pending values live
# under secret/rotor-staging/openrouter/*, which no application policy should cover.
# Adjust the mount (`secret`) and the subtree (`openrouter`) to your layout; keep the three
# parallel paths in step. See docs/vault-mapping.md.

# Current and previous values: read, and check-and-set writes of promoted versions.
path "secret/data/openrouter/*" {
  capabilities = ["create", "read", "update"]
}

# max_versions of each secret (rotor refuses max_versions = 1, which would prune Previous) and
# the rotor-rotation-enabled custom_metadata flag. Read only: operators own the metadata.
path "secret/metadata/openrouter/*" {
  capabilities = ["read"]
}

# Pending values (never read by applications).
path "secret/data/rotor-staging/openrouter/*" {
  capabilities = ["create", "read", "update"]
}

# After a promote or an abandoned rotation, rotor destroys the staging versions so no pending key
# material lingers there.
path "secret/destroy/rotor-staging/openrouter/*" {
  capabilities = ["update"]
}

# The mount's default max_versions (same check as above, for secrets without their own setting).
path "secret/config" {
  capabilities = ["read"]
}

# The OpenRouter management key (`--management-key-from vault://secret/rotor/openrouter-management#management_key`).
path "secret/data/rotor/openrouter-management" {
  capabilities = ["read"]
}

# Token renewal and lookup (also in Vault's `default` policy, repeated so this policy is
# self-sufficient when a role sets token_no_default_policy).
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
