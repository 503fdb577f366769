// Where the Rust builds are: $CARGO_TARGET_DIR, else scripts/env.sh's choice,
// ~/.cache/wxcoupon/target-<first 12 hex digits of sha256(repository root path)>.
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export function targetDir() {
  if (process.env.CARGO_TARGET_DIR) return process.env.CARGO_TARGET_DIR;
  const checkout = createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12);
  return join(homedir(), '.cache/wxcoupon', `target-${checkout}`);
}
