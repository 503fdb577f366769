# Sourced by the scripts: toolchain setup every command needs, on a fresh machine too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# `targets` in rust-toolchain.toml is ignored on the project's machines (RUSTUP_AUTO_INSTALL=0).
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "== installing the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

# The component signs and verifies API v3 with ring, whose build for wasm32-wasip2 compiles C
# with clang (Debian's clang 14 is enough).
./scripts/apt-install clang:clang

# One target directory outside the clone, so a reused machine keeps its builds (wasmtime takes
# minutes to compile). One per checkout: build scripts remember absolute paths, so two checkouts
# sharing a target directory could embed each other's component. Override with CARGO_TARGET_DIR.
checkout_id=$(printf '%s' "$PWD" | sha256sum | cut -c1-12)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wxcoupon/target-$checkout_id}"
mkdir -p "$CARGO_TARGET_DIR"
