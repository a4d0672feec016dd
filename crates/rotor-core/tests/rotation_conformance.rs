//! The rotation conformance suite (`rotor_testkit::rotation`) on MemoryStore and FileStore.
//! Vault and Secrets Manager run the same cases in their crates' `rotation_conformance` tests.

use rotor_testkit::{SECRET, rotation, stores};

#[tokio::test]
async fn memory_crash_resume() {
    rotation::crash_resume(&stores::memory(), SECRET).await;
}

#[tokio::test]
async fn file_crash_resume() {
    let file = stores::file();
    rotation::crash_resume(&file.store, SECRET).await;
}

#[tokio::test]
async fn memory_crash_at_every_await_point() {
    rotation::crash_at_every_await_point(&stores::memory(), SECRET).await;
}

#[tokio::test]
async fn file_crash_at_every_await_point() {
    let file = stores::file();
    rotation::crash_at_every_await_point(&file.store, SECRET).await;
}

#[tokio::test]
async fn memory_exactly_one_wins() {
    let store = stores::memory();
    let other = store.clone();
    rotation::exactly_one_wins(&[&store, &other], SECRET).await;
}

/// Two FileStore instances on one directory, as two processes would have.
#[tokio::test]
async fn file_exactly_one_wins() {
    let file = stores::file();
    let other = file.reopen();
    rotation::exactly_one_wins(&[&file.store, &other], SECRET).await;
}

#[tokio::test]
async fn memory_abandon() {
    rotation::abandon(&stores::memory(), SECRET).await;
}

#[tokio::test]
async fn file_abandon() {
    let file = stores::file();
    rotation::abandon(&file.store, SECRET).await;
}

#[tokio::test]
async fn memory_retirement() {
    rotation::retirement(&stores::memory(), SECRET).await;
}

#[tokio::test]
async fn file_retirement() {
    let file = stores::file();
    rotation::retirement(&file.store, SECRET).await;
}
