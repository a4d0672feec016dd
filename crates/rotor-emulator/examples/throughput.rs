//! Rough throughput of the in-process emulator: `cargo run --release -p rotor-emulator --example
//! throughput`. Creates, reads and deletes keys from 8 concurrent clients over real HTTP.

use std::time::Instant;

use rotor_emulator::EmulatorConfig;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let emu = rotor_emulator::start(EmulatorConfig::default()).await?;
    let base = emu.base_url();
    let mk = emu.management_key().to_owned();
    let per_task = 250;
    let tasks = 8;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (base, mk) = (base.clone(), mk.clone());
        handles.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for i in 0..per_task {
                let created: Value = http
                    .post(format!("{base}/keys"))
                    .bearer_auth(&mk)
                    .json(&json!({"name": format!("t{t}-{i}")}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let hash = created["data"]["hash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                http.get(format!("{base}/keys/{hash}"))
                    .bearer_auth(&mk)
                    .send()
                    .await?
                    .error_for_status()?;
                http.delete(format!("{base}/keys/{hash}"))
                    .bearer_auth(&mk)
                    .send()
                    .await?
                    .error_for_status()?;
            }
            Ok::<(), reqwest::Error>(())
        }));
    }
    for h in handles {
        h.await??;
    }
    let elapsed = started.elapsed();
    let requests = tasks * per_task * 3;
    println!(
        "{requests} requests in {elapsed:?}: {:.0} requests/s",
        requests as f64 / elapsed.as_secs_f64()
    );
    emu.shutdown().await;
    Ok(())
}
