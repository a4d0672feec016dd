#!/usr/bin/env bash
# Benchmark of rotor's Lambda `bootstrap` (not a timed test). Prints:
#   * zip size      cargo lambda build --release --output-format zip (host arch; --compiler cargo
#                   unless zig is installed, then also arm64 with zig)
#   * cold start    process start -> first GET /next on a local Lambda Runtime API
#   * per-step latency against LocalStack + the OpenRouter emulator (warm container)
#   * peak RSS      VmHWM of the process after N rotations
# Usage: crates/rotor-aws/benches/lambda.sh [ROTATIONS]   (from anywhere; starts LocalStack itself
# unless ROTOR_TEST_AWS_ENDPOINT is set).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
cd "$ROOT"
export ROTOR_ROOT="$ROOT" ROTOR_TOOLS="${ROTOR_TOOLS:-$ROOT/.tools}"
export ROTOR_BENCH_ROTATIONS="${1:-10}"
mkdir -p "$ROTOR_TOOLS"
log() { echo "bench: $*" >&2; }

PIDS=()
register_pid() { PIDS+=("$1"); }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() {
  local url=$1 pattern=${3:-} deadline=$(( $(date +%s) + $2 )) body
  while [ "$(date +%s)" -lt "$deadline" ]; do
    if body=$(curl -fsS --max-time 2 "$url" 2>/dev/null) && { [ -z "$pattern" ] || grep -qE "$pattern" <<<"$body"; }; then return 0; fi
    sleep 0.3
  done
  return 1
}
export ROTOR_RUN_DIR="$(mktemp -d)"
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; rm -rf "$ROTOR_RUN_DIR"; }
trap cleanup EXIT

# cargo-lambda (PyPI wheel) in its own cached venv.
CL="$ROTOR_TOOLS/cargo-lambda-venv"
if [ ! -x "$CL/bin/cargo-lambda" ]; then
  log "installing cargo-lambda into $CL"
  python3 -m venv "$CL" && "$CL/bin/pip" install --quiet --disable-pip-version-check cargo-lambda==1.9.2
fi
export PATH="$CL/bin:$PATH"
if command -v zig >/dev/null 2>&1; then COMPILER=(); else COMPILER=(--compiler cargo); fi
log "cargo lambda build --release --output-format zip ${COMPILER[*]} -p rotor-aws --bin bootstrap"
cargo lambda build --release --output-format zip "${COMPILER[@]}" -p rotor-aws --bin bootstrap >&2
ZIP=target/lambda/bootstrap/bootstrap.zip
echo "BENCH zip size ($(uname -m), $ZIP): $(du -b "$ZIP" | cut -f1) bytes ($(awk "BEGIN{printf \"%.2f\", $(du -b "$ZIP" | cut -f1)/1048576}") MiB)"
UNZIPPED="$ROTOR_RUN_DIR/bootstrap"
python3 -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('bootstrap', sys.argv[2])" "$ZIP" "$ROTOR_RUN_DIR"
chmod +x "$UNZIPPED"
echo "BENCH binary size: $(du -b "$UNZIPPED" | cut -f1) bytes"

if [ -z "${ROTOR_TEST_AWS_ENDPOINT:-}" ]; then
  # shellcheck disable=SC1091
  source tests/services/20-localstack.sh
fi
export ROTOR_BENCH_BOOTSTRAP="$UNZIPPED"
# The harness (Runtime API server, emulator) is built in the dev profile; the measured binary is the
# release bootstrap from the zip.
cargo test -p rotor-aws --test lambda_bench -- --ignored --nocapture 2>&1 | grep "^BENCH"
