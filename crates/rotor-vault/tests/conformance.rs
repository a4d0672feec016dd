//! The core conformance suite, unchanged, against a real OpenBao (KV v2 at `secret/`).

use rotor_testkit::stores;
use rotor_testkit::stores::vault;

use rotor_core::{SecretStore, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vault_store_passes_the_conformance_suite() {
    let store = vault::root_store().await;
    let prefix = format!("secret/{}", stores::fresh("conf"));
    conformance::run_all(&store, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn vault_store_survives_reopen() {
    let config = vault::root_config();
    let prefix = format!("secret/{}", stores::fresh("reopen"));
    // Each "reopen" is a new client with a fresh connection: all state lives in Vault.
    conformance::survives_reopen(
        move || {
            let config = config.clone();
            let handle = tokio::runtime::Handle::current();
            let store = std::thread::spawn(move || {
                handle.block_on(rotor_vault::VaultStore::connect(config))
            })
            .join()
            .unwrap()
            .unwrap();
            Box::new(store) as Box<dyn SecretStore>
        },
        &prefix,
    )
    .await;
}
