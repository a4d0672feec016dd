# Example application policy: read the current key of one secret, nothing else.
# (Not the staging path, not metadata, not other versions' destroy/delete.)
path "secret/data/openrouter/myapp" {
  capabilities = ["read"]
}
