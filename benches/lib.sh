# shellcheck shell=bash
# Shared by the benchmark commands in benches/ (sourced, never run). Gives each command what
# tests/run gives tests/services/*.sh — ROTOR_ROOT, ROTOR_TOOLS, ROTOR_RUN_DIR, register_pid,
# free_port, wait_http, log — plus: release builds, the OpenRouter emulator as its own process,
# its request counters, and the `BENCH <row>: <figure> (target <target>) MET|NOT MET` line.
# Everything a command starts is stopped when it exits.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export ROTOR_ROOT="$ROOT"
export ROTOR_TOOLS="${ROTOR_TOOLS:-$ROOT/.tools}"
mkdir -p "$ROTOR_TOOLS"
ROTOR_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/rotor-bench.XXXXXX")"
export ROTOR_RUN_DIR
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH_NAME="$(basename "$0")"

PIDS=()
register_pid() { PIDS+=("$1"); }
# stop_pid PID: stops one process this command started (TERM, then KILL after 5 s).
stop_pid() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
_bench_cleanup() {
  local rc=$?
  for pid in "${PIDS[@]:-}"; do [ -z "$pid" ] || stop_pid "$pid"; done
  rm -rf "$ROTOR_RUN_DIR"
  exit $rc
}
trap _bench_cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# wait_http URL SECONDS [GREP]: poll until URL answers 2xx (and its body matches GREP).
wait_http() {
  local url=$1 pattern=${3:-} deadline=$(($(date +%s) + $2)) body
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if body=$(curl -fsS --max-time 2 "$url" 2>/dev/null) && { [ -z "$pattern" ] || grep -qE "$pattern" <<<"$body"; }; then
      return 0
    fi
    sleep 0.3
  done
  echo "$BENCH_NAME: $url not ready after ${2}s" >&2
  return 1
}
log() { echo "$BENCH_NAME: $*" >&2; }
export -f free_port wait_http log

# The context every figure is quoted with.
log "$(date -u +%Y-%m-%dT%H:%M:%SZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores, $(uname -m)"

# bench_build: release builds of the rotor CLI and the emulator (ROTOR_BENCH_PROFILE picks another
# cargo profile, e.g. `profiling` for benches/profile). Sets ROTOR_BIN and EMULATOR_BIN;
# ROTOR_BENCH_ROTOR_BIN=PATH measures another rotor binary (an older build, side by side).
bench_build() {
  local profile=${ROTOR_BENCH_PROFILE:-release} dir
  log "cargo build --profile $profile -p rotor-cli -p rotor-emulator"
  cargo build --profile "$profile" -p rotor-cli -p rotor-emulator --bins >&2
  dir="$TARGET_DIR/$profile"
  # shellcheck disable=SC2034 # used by the commands that source this file
  ROTOR_BIN="${ROTOR_BENCH_ROTOR_BIN:-$dir/rotor}"
  EMULATOR_BIN="$dir/rotor-emulator"
}

# start_emulator [ARGS…]: the OpenRouter emulator (release, with test controls) on a free port,
# with a fresh management key. Sets EMULATOR_URL (…/api/v1), EMULATOR_ROOT, EMULATOR_PID and
# exports OPENROUTER_BASE_URL / OPENROUTER_MANAGEMENT_KEY for rotor. The key stays in the
# environment of this command's processes; it is never printed.
start_emulator() {
  local out="$ROTOR_RUN_DIR/emulator.$RANDOM.out"
  OPENROUTER_MANAGEMENT_KEY="${OPENROUTER_MANAGEMENT_KEY:-sk-or-v1-$(python3 -c 'import secrets; print(secrets.token_hex(32))')}"
  export OPENROUTER_MANAGEMENT_KEY
  RUST_LOG=warn "$EMULATOR_BIN" --test-controls "$@" >"$out" 2>>"$ROTOR_RUN_DIR/emulator.log" &
  EMULATOR_PID=$!
  register_pid "$EMULATOR_PID"
  for _ in $(seq 100); do [ -s "$out" ] && break; sleep 0.1; done
  EMULATOR_URL="$(head -n1 "$out")"
  case "$EMULATOR_URL" in http*) ;; *) log "the emulator did not start"; cat "$ROTOR_RUN_DIR/emulator.log" >&2; return 1 ;; esac
  EMULATOR_ROOT="${EMULATOR_URL%/api/v1}"
  export OPENROUTER_BASE_URL="$EMULATOR_URL"
}

# openrouter_calls: total OpenRouter requests the emulator has served (its /_emulator/counters).
openrouter_calls() {
  curl -fsS "$EMULATOR_ROOT/_emulator/counters" | python3 -c 'import json,sys; print(sum(json.load(sys.stdin).values()))'
}
# openrouter_counters: the counters, one `METHOD ROUTE COUNT` a line.
openrouter_counters() {
  curl -fsS "$EMULATOR_ROOT/_emulator/counters" |
    python3 -c 'import json,sys; [print(k, v) for k, v in json.load(sys.stdin).items()]'
}

# cpu_seconds PID: user + system CPU seconds of a running process (/proc/PID/stat).
cpu_seconds() {
  python3 - "$1" <<'PY'
import os, sys
stat = open("/proc/%s/stat" % sys.argv[1]).read()
fields = stat[stat.rindex(")") + 2:].split()
print((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
PY
}

# timed OUT_PREFIX CMD…: runs CMD, stdout to OUT_PREFIX.out, stderr to OUT_PREFIX.err; writes
# "WALL_S CPU_S EXIT" (wall seconds, the command's user + system CPU seconds) to OUT_PREFIX.time.
timed() {
  local prefix=$1 t0 t1 rc=0
  shift
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$prefix.rusage" "$@" >"$prefix.out" 2>"$prefix.err" || rc=$?
  t1=$(date +%s.%N)
  python3 -c 'import sys; u, s = open(sys.argv[3]).read().split()[-2:]; print("%.3f %.3f %s" % (float(sys.argv[2]) - float(sys.argv[1]), float(u) + float(s), sys.argv[4]))' \
    "$t0" "$t1" "$prefix.rusage" "$rc" >"$prefix.time"
}

# calc EXPR: a floating-point expression (python3).
calc() { python3 -c "print($1)"; }

# verdict ROW FIGURE TARGET OK: the one line each row prints (OK = 1 when the target is met).
verdict() {
  local met="NOT MET"
  [ "$4" = 1 ] && met="MET"
  echo "BENCH $1: $2 (target $3) $met"
}

# bench_lambda_zip: the rotation Lambda's zip as it ships — `cargo lambda build --profile lambda
# --no-default-features --output-format zip` (the workspace's size-optimised `lambda` profile,
# rotor-aws without the CLI's SSO/credential_process feature; cargo-lambda from PyPI in a cached
# venv; host architecture, --compiler cargo unless zig is installed). Sets LAMBDA_ZIP and
# BOOTSTRAP_BIN (the binary unpacked from it).
bench_lambda_zip() {
  local cl="$ROTOR_TOOLS/cargo-lambda-venv" compiler=()
  if [ ! -x "$cl/bin/cargo-lambda" ]; then
    log "installing cargo-lambda into $cl"
    python3 -m venv "$cl" && "$cl/bin/pip" install --quiet --disable-pip-version-check cargo-lambda==1.9.2
  fi
  command -v zig >/dev/null 2>&1 || compiler=(--compiler cargo)
  log "cargo lambda build --profile lambda --no-default-features --output-format zip ${compiler[*]} -p rotor-aws --bin bootstrap"
  PATH="$cl/bin:$PATH" cargo lambda build --profile lambda --no-default-features --output-format zip "${compiler[@]}" -p rotor-aws --bin bootstrap >&2
  LAMBDA_ZIP="$TARGET_DIR/lambda/bootstrap/bootstrap.zip"
  python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('bootstrap', sys.argv[2])" "$LAMBDA_ZIP" "$ROTOR_RUN_DIR"
  BOOTSTRAP_BIN="$ROTOR_RUN_DIR/bootstrap"
  chmod +x "$BOOTSTRAP_BIN"
}

# start_localstack: LocalStack (host mode) from tests/services/20-localstack.sh, unless
# ROTOR_TEST_AWS_ENDPOINT points at one already.
start_localstack() {
  if [ -z "${ROTOR_TEST_AWS_ENDPOINT:-}" ]; then
    # shellcheck source=tests/services/20-localstack.sh
    source tests/services/20-localstack.sh
  fi
}

# start_counting_proxy UPSTREAM LOG: benches/counting_proxy.py in front of UPSTREAM (one
# `METHOD PATH` line per request in LOG). Sets PROXY_URL.
start_counting_proxy() {
  local out="$ROTOR_RUN_DIR/proxy.$RANDOM.out"
  python3 "$ROOT/benches/counting_proxy.py" "$1" "$2" >"$out" 2>>"$ROTOR_RUN_DIR/proxy.log" &
  register_pid $!
  for _ in $(seq 50); do [ -s "$out" ] && break; sleep 0.1; done
  PROXY_URL="$(head -n1 "$out")"
  case "$PROXY_URL" in http*) ;; *) log "the counting proxy did not start"; return 1 ;; esac
}
