// The Node side of the per-language cycles (issue 16): one v2 send_coupon cycle and one v3
// issue-coupon cycle in one Node process, through the wxcoupon Node host (hosts/node) and through
// the npm peers doing the same work without HTTP — tenpay (v2) and wechatpay-axios-plugin (v3).
// Best of 5 runs of N cycles each, after a warm-up run of N/5.
//
//   node bench/node_cycles.mjs [N] [--quick]
//
// - node.v2.wxcoupon: build the signed send_coupon request (`buildRequest`) + parse and verify
//   WeChat's signed answer (tests/fixtures/responses/send_coupon_success_signed.xml, as bytes).
// - node.v2.tenpay: what tenpay's `sendCoupon` does around its HTTP — the same fields, `_getSign`
//   (MD5) and `util.buildXML`, then its `_parse` of the answer (xml2js, return/result codes,
//   appid and mch_id). tenpay checks no signature on coupon answers, so the cycle adds its own
//   `_getSign` of the answer compared with `sign`: the work wxcoupon does.
// - node.v3.wxcoupon: the vectors' issue-coupon request (tests/fixtures/v3/vectors.json)
//   built by the component, signed by node:crypto, authorized by the component (`v3.buildRequest`),
//   then the vectors' signed answer checked by the component, verified by node:crypto and read
//   (`v3.parseResponse`, `now` the vector's).
// - node.v3.wxcoupon-in-component: the same through the component alone (`v3.sign` and
//   `v3.parse-issue-coupon`: RSA inside wasm), the Node host's path before it signed natively.
// - node.v3.wechatpay-axios-plugin: the plugin's own request signer (`Decorator.requestInterceptor`:
//   JSON body, nonce, `Rsa.sign`, `Formatter.authorization`) on the same request and key, then
//   the steps of its `responseVerifier` on the same answer (headers, clock against the vector's
//   `now`, serial, `Rsa.verify` of `Formatter.response`) and axios's JSON parse.
//
// N: cycles per run for every measure; default per measure (about 0.5 s per run on the project's
// 2-core machine). --quick: a few cycles each, a smoke check. The peers are installed outside the
// repository from bench/peers/package.json + package-lock.json (`npm ci` in
// ~/.cache/wxcoupon/bench-node, as bench/run does), done here when missing or stale; a
// measure whose implementation cannot load is reported on stderr and left out. The Node host must
// be built (`npm ci && npm run build` in hosts/node); $WXCOUPON_NODE_HOST replaces hosts/node (to
// time another checkout of the host in the same run as the peers).
//
// stdout: one JSON line per measure, {"measure", "value" (µs per cycle), "unit": "us", "n", "runs"}.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const HOST = process.env.WXCOUPON_NODE_HOST || join(ROOT, 'hosts/node');
// The peers' scratch directory: $WXCOUPON_BENCH_NODE, else the one bench/run installs into
// ($WXCOUPON_BENCH_NODE_MODULES is its node_modules), else ~/.cache/wxcoupon/bench-node.
const PEERS = process.env.WXCOUPON_BENCH_NODE
  || (process.env.WXCOUPON_BENCH_NODE_MODULES ? dirname(process.env.WXCOUPON_BENCH_NODE_MODULES) : join(homedir(), '.cache/wxcoupon/bench-node'));
const RUNS = 5;

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const given = args.find((a) => /^\d+$/.test(a));
const cycles = (defaultCount) => (given ? Number(given) : quick ? Math.max(2, Math.ceil(defaultCount / 400)) : defaultCount);

const log = (...parts) => console.error('node_cycles:', ...parts);

// ---- The fixtures: the v2 test merchant and answer, the v3 vectors and keys (test keys only).
const V2_KEY = '192006250b4c09247ec02edce69f6a2d';
const APPID = 'wx5edab3bdfba3dc1c';
const MCH_ID = '10000098';
const V2_ANSWER = new Uint8Array(readFileSync(join(ROOT, 'tests/fixtures/responses/send_coupon_success_signed.xml')));
const V2_ANSWER_TEXT = Buffer.from(V2_ANSWER).toString('utf8');
const V2_REQUEST = { couponStockId: '1717', openid: 'onqOjjrXT-776SpHnfexGm1_P7iE', partnerTradeNo: '1000009820141203515766' };
const V2_NONCE = '1417574675';

const v3File = (name) => readFileSync(join(ROOT, 'tests/fixtures/v3', name), 'utf8');
const vectors = JSON.parse(v3File('vectors.json'));
const SENT = vectors.request_signatures.find((v) => v.name === 'send_coupon');
const ANSWERED = vectors.response_signatures.find((v) => v.name === 'send_coupon-200');
const SENT_BODY = JSON.parse(SENT.body);
const V3_REQUEST = {
  openid: SENT.canonical_url.split('/')[5],
  stockId: SENT_BODY.stock_id,
  outRequestNo: SENT_BODY.out_request_no,
  appid: SENT_BODY.appid,
  stockCreatorMchid: SENT_BODY.stock_creator_mchid,
};
const V3_SETTINGS = {
  mchid: vectors.keys.merchant.mchid,
  merchantSerialNo: vectors.keys.merchant.certificate_serial_no,
  apiv3Key: vectors.keys.apiv3_key,
  privateKeyPem: v3File('merchant_key.pem'),
  wechatpayPublicKeyId: vectors.keys.platform.public_key_id,
  wechatpayPublicKeyPem: v3File('platform_pub.pem'),
};
const ANSWER_PAIRS = Object.entries(ANSWERED.headers);
const COUPON_ID = JSON.parse(ANSWERED.body).coupon_id;

/** µs per cycle, the best of RUNS runs of n cycles; a cycle returning a promise is awaited. */
async function bestOf(cycle, n) {
  const isAsync = cycle() instanceof Promise;
  const run = isAsync
    ? async (count) => {
        for (let i = 0; i < count; i++) await cycle();
      }
    : (count) => {
        for (let i = 0; i < count; i++) cycle();
      };
  await run(Math.max(1, Math.ceil(n / 5))); // warm: the JIT, the instance, the key caches
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const start = process.hrtime.bigint();
    await run(n);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1000 / n);
  }
  return best;
}

// ---- The Node host.
async function loadHost() {
  const wx = await import(pathToFileURL(join(HOST, 'src/index.js')).href);
  const { v3 } = await import(pathToFileURL(join(HOST, 'src/component.js')).href);
  const { wit } = await import(pathToFileURL(join(HOST, 'src/v3.js')).href);
  return { wx, component: v3, wit };
}

function wxcouponV2({ wx }) {
  const merchant = { appid: APPID, mchId: MCH_ID, apiKey: V2_KEY };
  const request = { api: 'send_coupon', ...V2_REQUEST };
  return () => {
    wx.buildRequest(merchant, request, V2_NONCE);
    const sent = wx.parseResponse(merchant, 'send_coupon', 200, V2_ANSWER);
    assert.ok(sent.couponId === '6954' && sent.signature === 'verified-md5');
  };
}

function wxcouponV3({ wx }) {
  const merchant = wx.v3.openMerchant(V3_SETTINGS);
  const at = { timestamp: Number(SENT.timestamp), nonce: SENT.nonce_str };
  const answer = { status: ANSWERED.status, headers: ANSWER_PAIRS, body: ANSWERED.body };
  return () => {
    const signed = wx.v3.buildRequest('issueCoupon', merchant, V3_REQUEST, at);
    assert.ok(signed.headers.some(([name, value]) => name === 'authorization' && value.includes(SENT.signature)));
    assert.equal(wx.v3.parseResponse('issueCoupon', merchant, answer, ANSWERED.now).couponId, COUPON_ID);
  };
}

function wxcouponV3InComponent({ component, wit }) {
  const merchant = component.Merchant.open({ platformCertificates: [], ...V3_SETTINGS });
  const timestamp = BigInt(SENT.timestamp);
  const now = BigInt(ANSWERED.now);
  const answer = { status: ANSWERED.status, headers: ANSWER_PAIRS, body: ANSWERED.body };
  return () => {
    const signed = component.sign(merchant, component.buildIssueCoupon(wit(V3_REQUEST), timestamp, SENT.nonce_str));
    assert.ok(signed.headers.some(([name, value]) => name === 'authorization' && value.includes(SENT.signature)));
    assert.equal(component.parseIssueCoupon(merchant, answer, now).couponId, COUPON_ID);
  };
}

// ---- The peers, from the scratch directory.
function installPeers() {
  const lock = readFileSync(join(ROOT, 'bench/peers/package-lock.json'));
  const installed = join(PEERS, 'package-lock.json');
  if (existsSync(join(PEERS, 'node_modules')) && existsSync(installed) && readFileSync(installed).equals(lock)) return;
  log(`installing the peers into ${PEERS} (npm ci)`);
  mkdirSync(PEERS, { recursive: true });
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(ROOT, 'bench/peers', f), join(PEERS, f));
  execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: PEERS, stdio: ['ignore', 2, 2] });
}

const peerRequire = createRequire(join(PEERS, 'package.json'));

function tenpayV2() {
  const Tenpay = peerRequire('tenpay');
  const util = peerRequire('tenpay/lib/util');
  const payment = new Tenpay({ appid: APPID, mchid: MCH_ID, partnerKey: V2_KEY });
  return async () => {
    // sendCoupon's pkg and _request's signing and XML, without urllib.
    const pkg = {
      coupon_stock_id: V2_REQUEST.couponStockId,
      openid: V2_REQUEST.openid,
      partner_trade_no: V2_REQUEST.partnerTradeNo,
      appid: payment.appid,
      mch_id: payment.mchid,
      nonce_str: V2_NONCE,
      openid_count: 1,
    };
    pkg.sign = payment._getSign(pkg, pkg.sign_type);
    util.buildXML(pkg);
    const answer = await payment._parse(V2_ANSWER_TEXT, 'send_coupon');
    assert.ok(answer.sign === payment._getSign(answer, 'MD5') && answer.coupon_id === '6954');
  };
}

function wechatpayAxiosPluginV3() {
  const { Decorator, Formatter, Rsa } = peerRequire('wechatpay-axios-plugin');
  const { AxiosHeaders } = peerRequire('axios');
  // As its `jsonBased` does once: the keys read into KeyObjects, the certs by serial.
  const privateKey = Rsa.from(V3_SETTINGS.privateKeyPem, Rsa.KEY_TYPE_PRIVATE);
  const certs = { [V3_SETTINGS.wechatpayPublicKeyId]: Rsa.from(V3_SETTINGS.wechatpayPublicKeyPem, Rsa.KEY_TYPE_PUBLIC) };
  const signer = Decorator.requestInterceptor();
  const url = SENT.canonical_url;
  return () => {
    const config = signer({
      method: 'post', baseURL: 'https://api.mch.weixin.qq.com/', url, data: SENT_BODY, headers: {},
      mchid: V3_SETTINGS.mchid, serial: V3_SETTINGS.merchantSerialNo, privateKey,
    });
    assert.ok(config.headers.get('Authorization').startsWith('WECHATPAY2-SHA256-RSA2048 '));
    // responseVerifier's steps (it reads the clock itself; here the vector's `now`).
    const headers = AxiosHeaders.from(ANSWERED.headers);
    const [timestamp, nonce, serial, signature] = ['Wechatpay-Timestamp', 'Wechatpay-Nonce', 'Wechatpay-Serial', 'Wechatpay-Signature'].map((h) => {
      assert.ok(headers.has(h));
      return headers.get(h);
    });
    assert.ok(Math.abs(ANSWERED.now - timestamp) <= 300);
    assert.ok(Object.prototype.hasOwnProperty.call(certs, serial));
    assert.ok(Rsa.verify(Formatter.response(timestamp, nonce, ANSWERED.body), signature, certs[serial]));
    assert.equal(JSON.parse(ANSWERED.body).coupon_id, COUPON_ID);
  };
}

async function main() {
  let host = null;
  try {
    host = await loadHost();
  } catch (e) {
    log(`the Node host does not load (npm ci && npm run build in ${HOST}?): ${e.message}`);
  }
  let peers = true;
  try {
    installPeers();
  } catch (e) {
    peers = false;
    log(`the peers are not installed: ${e.message}`);
  }
  const measures = [
    ['node.v2.wxcoupon', host && (() => wxcouponV2(host)), 5000],
    ['node.v2.tenpay', peers && tenpayV2, 5000],
    ['node.v3.wxcoupon', host && (() => wxcouponV3(host)), 500],
    ['node.v3.wxcoupon-in-component', host && (() => wxcouponV3InComponent(host)), 50],
    ['node.v3.wechatpay-axios-plugin', peers && wechatpayAxiosPluginV3, 500],
  ];
  for (const [measure, make, defaultCount] of measures) {
    if (!make) continue;
    let cycle;
    try {
      cycle = make();
    } catch (e) {
      log(`${measure}: ${e.message}`);
      continue;
    }
    const n = cycles(defaultCount);
    const value = await bestOf(cycle, n);
    console.log(JSON.stringify({ measure, value: Math.round(value * 100) / 100, unit: 'us', n, runs: RUNS }));
  }
}

await main();
