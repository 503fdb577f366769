// Starts `wxcoupon-simulator` on loopback for one test and stops it by closing its stdin.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { targetDir } from '../../scripts/paths.mjs';

export function simulatorPath() {
  return process.env.WXCOUPON_SIMULATOR || join(targetDir(), 'debug/wxcoupon-simulator');
}

/**
 * Options: `faults` (an object of simulator fault settings, written as the `[faults]` TOML table),
 * `signResponses`. The plain-HTTP listener is always on. Resolves to the ready line plus `stop()`.
 */
export async function startSimulator({ faults = null, signResponses = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'wxcoupon-node-sim-'));
  const args = ['--exit-on-stdin-eof', '--plain-http', '--cert-dir', dir];
  if (signResponses) args.push('--sign-responses');
  if (faults) {
    const lines = ['[faults]'];
    for (const [k, v] of Object.entries(faults)) lines.push(`${k} = ${JSON.stringify(v)}`);
    writeFileSync(join(dir, 'sim.toml'), lines.join('\n') + '\n');
    args.push('--config', join(dir, 'sim.toml'));
  }
  const child = spawn(simulatorPath(), args, {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const ready = await new Promise((resolve, reject) => {
    child.once('error', reject);
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve(JSON.parse(line)));
    exited.then((code) => reject(new Error(`the simulator exited (${code}) before it was ready: ${stderr}`)));
  });
  if (ready.event !== 'ready') throw new Error(`unexpected first line ${JSON.stringify(ready)}`);
  return {
    ...ready,
    async stop() {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
