# Vault / OpenBao Agent for an application that reads its OpenRouter key from
# secret/openrouter/myapp (policy: ../app-policy.hcl). The agent logs in with the pod's
# service account, renders the key to a file, and re-renders it when rotor promotes a new
# version; the application re-reads the file (or is signalled) and switches keys. rotor keeps the
# previous key valid for the grace period (default 2h), which must exceed
# static_secret_render_interval plus the application's reload time.
#
#   vault agent -config=agent.hcl     (or: bao agent -config=agent.hcl)

vault {
  address = "https://vault.example:8200"
}

auto_auth {
  method "kubernetes" {
    mount_path = "auth/kubernetes"
    config = {
      role = "myapp"
    }
  }
  sink "file" {
    config = {
      path = "/home/vault/.vault-token"
      mode = 0600
    }
  }
}

template_config {
  # KV v2 secrets are re-read on this interval (Vault's default is 5m).
  static_secret_render_interval = "1m"
  exit_on_retry_failure         = true
}

template {
  source      = "/etc/vault-agent/openrouter.env.ctmpl"
  destination = "/run/secrets/openrouter.env"
  perms       = "0600"
  # Tell the application to reload its key (it also works if it re-reads the file per request).
  command     = "pkill -HUP -x myapp || true"
}
