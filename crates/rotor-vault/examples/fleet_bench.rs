//! Fleet throughput of Vault rotations: rotations per second at concurrency 1, 8 and 32 over N
//! secrets, against a real OpenBao/Vault and the OpenRouter emulator, plus rotor's own CPU time
//! per rotation (getrusage of this process; run the emulator as a separate process with
//! `--emulator-bin` so its CPU is not counted). Not a test: see BENCHMARKS.md ("Vault").
//!
//! ```text
//! cargo build --release -p rotor-emulator -p rotor-vault --example fleet_bench
//! VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=… target/release/examples/fleet_bench \
//!     --emulator-bin target/release/rotor-emulator [--vault-pid PID] [--secrets 64] [--rotations 256] [--levels 1,8,32]
//! ```
//! Each level runs `--rotations` full rotations (begin, create, set, test, finish; grace 0s so
//! every rotation also retires the key from two generations back). Concurrent workers never
//! share a secret (worker w rotates secrets w, w+c, w+2c…), so no rotation waits on a conflict.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use rotor_core::{engine::Engine, policy::Policy};
use rotor_openrouter::{ApiKey, Client, ClientConfig};
use rotor_vault::{VaultConfig, VaultStore};

struct Args {
    secrets: usize,
    rotations: usize,
    levels: Vec<usize>,
    emulator_bin: Option<String>,
    /// The Vault/OpenBao server's pid (same machine), to report its CPU time too.
    vault_pid: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        secrets: 64,
        rotations: 256,
        levels: vec![1, 8, 32],
        emulator_bin: None,
        vault_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--secrets" => {
                args.secrets = value()?.parse().map_err(|e| format!("--secrets: {e}"))?
            }
            "--rotations" => {
                args.rotations = value()?.parse().map_err(|e| format!("--rotations: {e}"))?
            }
            "--levels" => {
                args.levels = value()?
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("--levels: {e}"))
                    })
                    .collect::<Result<_, _>>()?
            }
            "--emulator-bin" => args.emulator_bin = Some(value()?),
            "--vault-pid" => {
                args.vault_pid = Some(value()?.parse().map_err(|e| format!("--vault-pid: {e}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.levels.iter().any(|&c| c == 0 || c > args.secrets) {
        return Err("every concurrency level must be between 1 and --secrets".into());
    }
    Ok(args)
}

/// User + system CPU time of this process.
fn cpu_time() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we pass; RUSAGE_SELF is always valid.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// User + system CPU time of another process on this machine (Linux /proc), if readable.
fn process_cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

struct Emulator {
    base_url: String,
    management_key: String,
    pid: Option<u32>,
    _child: Option<ChildGuard>,
    _inproc: Option<rotor_emulator::RunningEmulator>,
}

struct ChildGuard(Child);
impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn start_emulator(bin: Option<&str>) -> Result<Emulator, Box<dyn std::error::Error>> {
    let management_key = format!("sk-or-v1-{}", hex::encode(rand::random::<[u8; 32]>()));
    match bin {
        Some(bin) => {
            let mut child = Command::new(bin)
                .env("OPENROUTER_MANAGEMENT_KEY", &management_key)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()?;
            let pid = child.id();
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let guard = ChildGuard(child);
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line)?;
            let base_url = line.trim().to_owned();
            if !base_url.starts_with("http") {
                return Err(format!("{bin} did not print its base URL").into());
            }
            Ok(Emulator {
                base_url,
                management_key,
                pid: Some(pid),
                _child: Some(guard),
                _inproc: None,
            })
        }
        None => {
            eprintln!("note: emulator in-process; the CPU figure includes it (use --emulator-bin)");
            let config = rotor_emulator::EmulatorConfig {
                management_key: Some(management_key.clone()),
                ..Default::default()
            };
            let emu = rotor_emulator::start(config).await?;
            Ok(Emulator {
                base_url: emu.base_url(),
                management_key,
                pid: None,
                _child: None,
                _inproc: Some(emu),
            })
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let store = Arc::new(VaultStore::connect(VaultConfig::from_env()?).await?);
    let emulator = start_emulator(args.emulator_bin.as_deref()).await?;
    let client = Client::new(ClientConfig::new(
        &emulator.base_url,
        ApiKey::new(&emulator.management_key),
    ))?;
    let engine = Arc::new(Engine::new(
        client,
        Policy {
            grace_period: Duration::ZERO,
            ..Default::default()
        },
    ));
    let run = uuid::Uuid::new_v4().simple().to_string();
    let secrets: Arc<Vec<String>> = Arc::new(
        (0..args.secrets)
            .map(|i| format!("secret/bench-{}/s{i:04}", &run[..8]))
            .collect(),
    );

    let started = Instant::now();
    for s in secrets.iter() {
        engine.init(store.as_ref(), s, None).await?;
    }
    eprintln!(
        "initialised {} secrets in {:.1}s",
        secrets.len(),
        started.elapsed().as_secs_f64()
    );

    println!(
        "| concurrency | rotations | wall time (s) | rotations/s | p50 latency (ms) | p99 latency (ms) | \
         rotor CPU per rotation (ms) | emulator CPU per rotation (ms) | Vault CPU per rotation (ms) | \
         Vault requests per rotation |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let other_cpu = |pid: Option<u32>| pid.and_then(process_cpu_time);
    for &c in &args.levels {
        let per_worker = args.rotations.div_ceil(c);
        let req0 = store.request_count();
        let cpu0 = cpu_time();
        let (emu0, vault0) = (other_cpu(emulator.pid), other_cpu(args.vault_pid));
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..c {
            let (store, engine, secrets) = (store.clone(), engine.clone(), secrets.clone());
            let mine: Vec<String> = secrets.iter().skip(w).step_by(c).cloned().collect();
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_worker);
                for i in 0..per_worker {
                    let secret = &mine[i % mine.len()];
                    let t = Instant::now();
                    engine
                        .rotate(store.as_ref(), secret)
                        .await
                        .map_err(|e| e.to_string())?;
                    latencies.push(t.elapsed());
                }
                Ok::<_, String>(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await??);
        }
        let wall = t0.elapsed();
        let cpu = cpu_time().saturating_sub(cpu0);
        let n_rot = latencies.len() as f64;
        let per = |before: Option<Duration>, after: Option<Duration>| match (before, after) {
            (Some(b), Some(a)) => format!("{:.2}", a.saturating_sub(b).as_secs_f64() * 1e3 / n_rot),
            _ => "n/a".to_owned(),
        };
        let emu_cpu = per(emu0, other_cpu(emulator.pid));
        let vault_cpu = per(vault0, other_cpu(args.vault_pid));
        let requests = (store.request_count() - req0) as f64 / n_rot;
        latencies.sort();
        let pct = |p: f64| {
            latencies[((latencies.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
        };
        let n = latencies.len();
        println!(
            "| {c} | {n} | {:.2} | {:.1} | {:.1} | {:.1} | {:.2} | {emu_cpu} | {vault_cpu} | {requests:.1} |",
            wall.as_secs_f64(),
            n as f64 / wall.as_secs_f64(),
            pct(0.5),
            pct(0.99),
            cpu.as_secs_f64() * 1e3 / n as f64
        );
    }
    Ok(())
}
