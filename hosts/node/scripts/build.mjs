// Transpiles the wxcoupon component (the one `.wasm` file) into gen/ with jco.
//
// The component: $WXCOUPON_WASM, else the path `wxcoupon info` prints (the Rust host's build
// embeds and records it), with the binary at $WXCOUPON_CLI or <target dir>/debug/wxcoupon (see
// paths.mjs).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// jco's generated `_debugLog` reads process.env.JCO_DEBUG on every call (several times per export
// call; process.env is a getenv through a C++ interceptor): 8 % of the v2 cycle's CPU profile.
// Read it once, when the module loads; JCO_DEBUG still turns the logging on. A jco whose output no
// longer has this definition fails the build here, so the rewrite is never silently lost.
const bindings = join(out, 'wxcoupon.js');
const perCall = `const _debugLog = (...args) => {
  if (!globalThis?.process?.env?.JCO_DEBUG) { return; }
  console.debug(...args);
};`;
const once = `const _debugLog = globalThis?.process?.env?.JCO_DEBUG
  ? (...args) => console.debug(...args)
  : () => {};`;
const generated = readFileSync(bindings, 'utf8');
if (generated.split(perCall).length !== 2) {
  throw new Error(`${bindings}: jco's _debugLog is not the one definition this build rewrites (a new jco?)`);
}
writeFileSync(bindings, generated.replace(perCall, once));
console.log(`transpiled ${wasm} into gen/`);
