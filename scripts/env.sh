# Sourced by the scripts: toolchain setup every command needs, on a fresh machine too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# `targets` in rust-toolchain.toml is ignored on the project's machines (RUSTUP_AUTO_INSTALL=0).
if ! rustup target list --installed | grep -qx wasm32-wasip2; then
  echo "== installing the wasm32-wasip2 target"
  rustup target add wasm32-wasip2
fi

# One target directory outside the clone, so a reused machine keeps its builds (wasmtime takes
# minutes to compile). Override with CARGO_TARGET_DIR.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/wxcoupon/target}"
mkdir -p "$CARGO_TARGET_DIR"
