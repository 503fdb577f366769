// The Node peer behind a minimal HTTP server, for the gateway comparison (issue 16): tenpay's
// own `queryCouponStock` (v2 query_coupon_stock, over its urllib HTTPS) behind node:http,
// answering `GET /v1/stocks/{stock_id}` as `wxcoupon serve` does — what a Node user without
// wxcoupon would write.
//
//   node bench/peers/node_gateway.mjs --base-url URL --ca FILE --appid A --mch-id M [--api-key K]
//
// tenpay is loaded from the bench's scratch install (bench/peers/package.json + package-lock.json,
// `npm ci` by bench/run or bench/node_cycles.mjs): $WXCOUPON_BENCH_NODE, else the parent of
// $WXCOUPON_BENCH_NODE_MODULES, else ~/.cache/wxcoupon/bench-node. The API key is --api-key or $WXPAY_API_KEY. tenpay has the production URLs
// built in: the query's URL is pointed at --base-url, as a user aims it at a test server. tenpay
// takes no CA option; urllib's shared https agent is replaced by one trusting --ca with
// keep-alive on (urllib's own default agent keeps no connection alive).
//
// Listens on 127.0.0.1, a free port; prints {"event":"ready","port":N} on stdout; exits when
// stdin closes. 200 with tenpay's parsed answer (every field but `sign`, `coupon_stock_id` and
// `coupon_stock_status` among them); 502 {"error": "sdk", "message"} when tenpay throws; 404/405
// for other routes.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    'base-url': { type: 'string' },
    ca: { type: 'string' },
    appid: { type: 'string' },
    'mch-id': { type: 'string' },
    'api-key': { type: 'string' },
  },
});
const apiKey = opts['api-key'] ?? process.env.WXPAY_API_KEY;
for (const [name, value] of [['--base-url', opts['base-url']], ['--ca', opts.ca], ['--appid', opts.appid], ['--mch-id', opts['mch-id']], ['--api-key or WXPAY_API_KEY', apiKey]]) {
  if (!value) {
    console.error(`node_gateway: ${name} is required`);
    process.exit(2);
  }
}

const peers = process.env.WXCOUPON_BENCH_NODE
  || (process.env.WXCOUPON_BENCH_NODE_MODULES ? dirname(process.env.WXCOUPON_BENCH_NODE_MODULES) : join(homedir(), '.cache/wxcoupon/bench-node'));
const peerRequire = createRequire(join(peers, 'package.json'));
const Tenpay = peerRequire('tenpay');
// urllib (tenpay's HTTP) reads its module's `httpsAgent` on every request (lib/urllib.js; the
// package's index only copies it): the CA and keep-alive for all of tenpay's calls.
const urllib = peerRequire('urllib/lib/urllib');
urllib.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 1000, ca: readFileSync(opts.ca) });

const payment = new Tenpay({ appid: opts.appid, mchid: opts['mch-id'], partnerKey: apiKey });
payment.urls.query_coupon_stock = `${opts['base-url'].replace(/\/+$/, '')}/mmpaymkttransfers/query_coupon_stock`;

function reply(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const STOCK = /^\/v1\/stocks\/([^/?]+)(?:\?.*)?$/;

// HTTP/1.1 keep-alive toward the load client is node:http's default; idle sockets kept 65 s.
const server = http.createServer(async (req, res) => {
  const match = STOCK.exec(req.url);
  if (!match) return reply(res, 404, { error: 'not_found' });
  if (req.method !== 'GET') return reply(res, 405, { error: 'method_not_allowed' });
  let stockId;
  try {
    stockId = decodeURIComponent(match[1]);
  } catch {
    return reply(res, 400, { error: 'bad_request' });
  }
  try {
    const { sign: _sign, ...stock } = await payment.queryCouponStock({ coupon_stock_id: stockId });
    reply(res, 200, stock);
  } catch (e) {
    reply(res, 502, { error: 'sdk', message: String(e && e.message) });
  }
});
server.keepAliveTimeout = 65000;

server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${JSON.stringify({ event: 'ready', port: server.address().port })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
