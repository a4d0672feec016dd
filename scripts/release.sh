#!/usr/bin/env bash
# Builds rotor's release assets from this checkout into target/dist/<version>/ (or OUT_DIR):
#
#   rotor-<version>-x86_64-unknown-linux-gnu.tar.gz   the `rotor` binary (crate rotor-cli) with
#                                                     LICENSE, README.md, CHANGELOG.md, SECURITY.md
#   rotor-lambda-<version>-x86_64.zip                 the rotation Lambda `bootstrap` (crate
#                                                     rotor-aws) for provided.al2023 on x86_64
#   rotor-lambda-<version>-arm64.zip                  the same for arm64 (Graviton): only where zig
#                                                     and the aarch64-unknown-linux-gnu Rust target
#                                                     are installed; otherwise skipped, and said so
#   SHA256SUMS                                        sha256sum of each asset above
#
# Usage: scripts/release.sh            (from anywhere; needs cargo, python3, zip, objdump)
#        OUT_DIR=/tmp/rotor-dist scripts/release.sh
# The Lambda zips are built with cargo-lambda, installed from PyPI (pinned) into
# $ROTOR_TOOLS/cargo-lambda-venv as deploy/localstack/provision.sh and
# benches/lambda-footprint do. With zig (on PATH, or the ziglang wheel that comes with
# cargo-lambda's PyPI package) cargo-lambda cross-links against an old glibc; without it
# (--compiler cargo) against this machine's. Either way the script checks that bootstrap needs no
# glibc newer than provided.al2023's (2.34) and fails otherwise.
# Set CARGO_TARGET_DIR / CARGO_BUILD_JOBS as usual to place or throttle the build, and
# ROTOR_RELEASE_COMPILER=cargo to build the x86_64 zip without zig.
#
# Verifying a release (also docs/release.md): download the assets and SHA256SUMS into one
# directory, then
#   sha256sum -c SHA256SUMS                    # every asset: each line must say OK
#   sha256sum -c --ignore-missing SHA256SUMS   # only the assets you downloaded
# (macOS: shasum -a 256 -c SHA256SUMS). Take SHA256SUMS from the release page of the project,
# not from the same mirror as the assets, for the check to mean more than "the download is whole".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TOOLS="${ROTOR_TOOLS:-$ROOT/.tools}"
CARGO_LAMBDA_VERSION=1.9.2
TARGET=x86_64-unknown-linux-gnu
AL2023_GLIBC=2.34
say() { echo "release: $*" >&2; }
die() { say "$*"; exit 1; }

for tool in cargo python3 zip objdump sha256sum tar gzip; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
VERSION="$(awk -F'"' '/^\[workspace\.package\]/ { ws = 1; next } /^\[/ { ws = 0 } ws && /^version *=/ { print $2; exit }' Cargo.toml)"
[ -n "$VERSION" ] || die "no version in Cargo.toml [workspace.package]"
OUT="${OUT_DIR:-$ROOT/target/dist/$VERSION}"   # target/ is git-ignored
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# Reproducible archives: file times from the last commit, not the build.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then
  say "WARNING: the working tree has uncommitted changes; a release should be built from a clean tag"
fi
say "rotor $VERSION -> $OUT"
rm -rf "$OUT"
mkdir -p "$OUT"

# max_glibc FILE: the newest GLIBC_x.y symbol version FILE needs (empty for none).
max_glibc() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -n 1
}
# older_or_equal A B: version A <= version B.
older_or_equal() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]; }

# 1. The rotor binary.
say "1/3 cargo build --release --locked -p rotor-cli --target $TARGET"
cargo build --release --locked -p rotor-cli --target "$TARGET"
BIN="$TARGET_DIR/$TARGET/release/rotor"
[ -x "$BIN" ] || die "cargo did not produce $BIN"
say "rotor needs glibc >= $(max_glibc "$BIN")"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
NAME="rotor-$VERSION-$TARGET"
mkdir -p "$STAGE/$NAME"
cp "$BIN" "$STAGE/$NAME/rotor"
for doc in LICENSE README.md CHANGELOG.md SECURITY.md; do
  [ ! -f "$doc" ] || cp "$doc" "$STAGE/$NAME/"
done
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -cf - "$NAME" | gzip -9 -n >"$OUT/$NAME.tar.gz"

# 2. The Lambda zips, with cargo-lambda from PyPI.
CL="$TOOLS/cargo-lambda-venv"
if [ ! -x "$CL/bin/cargo-lambda" ]; then
  say "installing cargo-lambda==$CARGO_LAMBDA_VERSION into $CL"
  mkdir -p "$TOOLS"
  python3 -m venv "$CL"
  "$CL/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
export PATH="$CL/bin:$PATH"
# zig: on PATH, or the ziglang wheel cargo-lambda's PyPI package depends on (behind a `zig` shim).
if ! command -v zig >/dev/null 2>&1 && "$CL/bin/python" -m ziglang version >/dev/null 2>&1; then
  mkdir -p "$STAGE/bin"
  printf '#!/bin/sh\nexec "%s" -m ziglang "$@"\n' "$CL/bin/python" >"$STAGE/bin/zig"
  chmod +x "$STAGE/bin/zig"
  export PATH="$STAGE/bin:$PATH"
fi
# ROTOR_RELEASE_COMPILER=cargo: no zig even if present (x86_64 only; arm64 is then skipped).
if [ "${ROTOR_RELEASE_COMPILER:-}" != cargo ] && command -v zig >/dev/null 2>&1; then
  HAVE_ZIG=1 COMPILER=()
else
  HAVE_ZIG=0 COMPILER=(--compiler cargo)
fi
say "zig: $(if [ "$HAVE_ZIG" = 1 ]; then zig version; else echo none, building with --compiler cargo; fi)"

# lambda_zip ARCH FLAG: build bootstrap.zip for ARCH and copy it into $OUT.
lambda_zip() {
  local arch=$1 flag=$2 zip="$TARGET_DIR/lambda/bootstrap/bootstrap.zip" work glibc
  say "cargo lambda build --profile lambda --no-default-features --output-format zip $flag ${COMPILER[*]} -p rotor-aws --bin bootstrap"
  rm -f "$zip"
  cargo lambda build --profile lambda --no-default-features --output-format zip "$flag" "${COMPILER[@]}" -p rotor-aws --bin bootstrap
  [ -f "$zip" ] || die "cargo lambda did not produce $zip"
  work="$STAGE/lambda-$arch"
  mkdir -p "$work"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("bootstrap", sys.argv[2])' "$zip" "$work"
  glibc="$(max_glibc "$work/bootstrap")"
  if [ -n "$glibc" ] && ! older_or_equal "$glibc" "$AL2023_GLIBC"; then
    die "bootstrap ($arch) needs glibc $glibc, provided.al2023 has $AL2023_GLIBC: install zig (cargo-lambda then links against an older glibc) and run again"
  fi
  say "bootstrap ($arch) needs glibc >= ${glibc:-none}: runs on provided.al2023"
  cp "$zip" "$OUT/rotor-lambda-$VERSION-$arch.zip"
}

say "2/3 Lambda zips"
lambda_zip x86_64 --x86-64
SKIPPED=""
if [ "$HAVE_ZIG" = 1 ] && rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  lambda_zip arm64 --arm64
else
  SKIPPED="rotor-lambda-$VERSION-arm64.zip"
  why=()
  [ "$HAVE_ZIG" = 1 ] || why+=("zig is not on PATH")
  rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu ||
    why+=("the Rust target aarch64-unknown-linux-gnu is not installed (rustup target add aarch64-unknown-linux-gnu)")
  say "SKIPPED the arm64 Lambda zip: $(IFS=';'; echo "${why[*]}")"
fi

# 3. Checksums.
say "3/3 SHA256SUMS"
(cd "$OUT" && sha256sum -- *.tar.gz *.zip >SHA256SUMS && sha256sum -c --quiet SHA256SUMS)
say "done: $OUT"
sed 's/^/  /' "$OUT/SHA256SUMS" >&2
[ -z "$SKIPPED" ] || say "not built here: $SKIPPED (see above)"
