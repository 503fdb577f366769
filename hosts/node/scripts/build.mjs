// Transpiles the wxcoupon component (the one `.wasm` file) into gen/ with jco.
//
// The component: $WXCOUPON_WASM, else the path `wxcoupon info` prints (the Rust host's build
// embeds and records it), with the binary at $WXCOUPON_CLI or <target dir>/debug/wxcoupon (see
// paths.mjs).
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { targetDir } from './paths.mjs';

const here = dirname(dirname(fileURLToPath(import.meta.url)));

function componentPath() {
  if (process.env.WXCOUPON_WASM) return process.env.WXCOUPON_WASM;
  const cli = process.env.WXCOUPON_CLI || join(targetDir(), 'debug/wxcoupon');
  if (!existsSync(cli)) {
    throw new Error(`no component: set WXCOUPON_WASM, or build the Rust host (${cli} is missing)`);
  }
  return JSON.parse(execFileSync(cli, ['info'], { encoding: 'utf8' })).path;
}

const wasm = componentPath();
if (!existsSync(wasm)) throw new Error(`${wasm}: no such file`);
const out = join(here, 'gen');
rmSync(out, { recursive: true, force: true });
const jco = join(here, 'node_modules/@bytecodealliance/jco/dist/jco.js');
execFileSync(process.execPath, [jco, 'transpile', wasm, '-o', out, '--name', 'wxcoupon', '--quiet'], {
  stdio: 'inherit',
});
console.log(`transpiled ${wasm} into gen/`);
