// The native HTTPS client: sends what the component's `build-*` made with Node's `https` (or
// `http`), the merchant's client certificate presented when the request needs it, keep-alive
// connections pooled per TLS configuration.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { InvalidInputError, MalformedResponseError, TransportError } from './errors.js';

// The defaults are the core's (limits.js is generated from wxcoupon_core::settings).
import { DEFAULTS } from './limits.js';

export { DEFAULTS };

const TLS_KEYS = ['cert', 'key', 'pfx', 'passphrase', 'ca'];
const MAX_AGENTS = 16;
const agents = new Map();

function digestOf(value, hash) {
  if (value === undefined || value === null) return hash.update('\0-');
  const items = Array.isArray(value) ? value : [value];
  for (const item of items) {
    hash.update('\0+');
    hash.update(typeof item === 'string' ? item : Buffer.from(item.buffer ?? item, item.byteOffset, item.byteLength));
  }
  return hash;
}

/** One keep-alive agent per TLS configuration (a digest of it: no secret is kept as a key). */
function agentFor(isHttps, tls) {
  const hash = createHash('sha256').update(isHttps ? 'https' : 'http');
  for (const k of TLS_KEYS) digestOf(tls[k], hash.update(`\0${k}`));
  const id = hash.digest('hex');
  let agent = agents.get(id);
  if (!agent) {
    agent = isHttps
      ? new https.Agent({ keepAlive: true, maxSockets: 32, ...tls })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
    if (agents.size >= MAX_AGENTS) {
      const [oldest, old] = agents.entries().next().value;
      agents.delete(oldest);
      old.destroy();
    }
    agents.set(id, agent);
  }
  return agent;
}

/** Closes every pooled connection (tests, graceful shutdown). */
export function closeConnections() {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

function positive(value, fallback, field) {
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || value < 1) throw new InvalidInputError(field, 'must be a positive integer');
  return value;
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_)/;

function describe(err) {
  const code = err && err.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'DNS lookup failed';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection reset';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'destination unreachable';
  if (code && TLS_CODES.test(code)) return `TLS failed: ${err.message}`;
  return err && err.message ? err.message : String(err);
}

/**
 * Sends `req` (the WIT `http-request` a `build-*` export made, or a signed v3 request) and
 * returns `{status, headers, body}` (header names lower-case).
 * Throws TransportError (`mayHaveReachedWechat` once a connection was open and the request on its
 * way) or MalformedResponseError (body over `maxResponseBytes`).
 */
export function exchange(req, options = {}) {
  const url = new URL(req.url);
  const isHttps = url.protocol === 'https:';
  if (!isHttps && url.protocol !== 'http:') throw new InvalidInputError('url', 'must be http or https');
  const connectTimeout = positive(options.connectTimeoutMs, DEFAULTS.connectTimeoutMs, 'options.connect_timeout_ms');
  const firstByteTimeout = positive(options.firstByteTimeoutMs, DEFAULTS.firstByteTimeoutMs, 'options.first_byte_timeout_ms');
  const betweenTimeout = positive(options.betweenBytesTimeoutMs, DEFAULTS.betweenBytesTimeoutMs, 'options.between_bytes_timeout_ms');
  const maxBytes = positive(options.maxResponseBytes, DEFAULTS.maxResponseBytes, 'options.max_response_bytes');

  // The certificate goes only with requests that need it (send_coupon), and only to the URL the
  // component built from the merchant's settings.
  const tls = {};
  if (isHttps) {
    if (options.ca !== undefined) tls.ca = options.ca;
    if (req.needsClientCertificate) {
      for (const k of ['cert', 'key', 'pfx', 'passphrase']) if (options[k] !== undefined) tls[k] = options[k];
    }
  }
  const agent = options.agent ?? agentFor(isHttps, tls);
  const where = url.host;

  return new Promise((resolve, reject) => {
    let connected = false;
    let settled = false;
    let timer = null;
    const arm = (ms, error) => {
      clearTimeout(timer);
      timer = setTimeout(() => fail(error()), ms);
    };
    const fail = (error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(error);
    };
    const transport = (what, reached) => new TransportError(`${what} (${where})`, reached);

    const payload = Buffer.from(req.body, 'utf8');
    const headers = { 'content-length': String(payload.byteLength) };
    for (const [name, value] of req.headers) headers[name] = value;
    const request = (isHttps ? https : http).request(url, { method: req.method, headers, agent, ...tls });

    const onConnected = () => {
      connected = true;
      arm(firstByteTimeout, () => transport('timed out waiting for the response', true));
    };
    request.on('socket', (socket) => {
      if (socket.connecting || (isHttps && !socket.encrypted) || (isHttps && socket.pending)) {
        arm(connectTimeout, () => transport('connecting timed out', false));
        socket.once(isHttps ? 'secureConnect' : 'connect', onConnected);
      } else {
        onConnected(); // a kept-alive connection
      }
    });
    request.on('error', (err) => fail(transport(describe(err), connected)));
    request.on('response', (res) => {
      const status = res.statusCode;
      const chunks = [];
      let size = 0;
      arm(betweenTimeout, () => transport('timed out between response bytes', true));
      res.on('data', (chunk) => {
        size += chunk.length;
        if (size > maxBytes) {
          fail(new MalformedResponseError(null, `body is over the limit of ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
        arm(betweenTimeout, () => transport('timed out between response bytes', true));
      });
      res.on('aborted', () => fail(transport('connection closed before the response ended', true)));
      res.on('error', (err) => fail(transport(`reading the response failed: ${describe(err)}`, true)));
      res.on('end', () => {
        if (!res.complete) {
          fail(transport('connection closed before the response ended', true));
          return;
        }
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        const pairs = [];
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) pairs.push([res.rawHeaders[i].toLowerCase(), res.rawHeaders[i + 1]]);
        resolve({ status, headers: pairs, body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) });
      });
    });
    request.end(payload);
  });
}
