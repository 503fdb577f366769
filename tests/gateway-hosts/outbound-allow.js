// An outbound allow-list for `jco serve`, which has none of its own: what Spin's
// `allowed_outbound_hosts` does, for the Node host.
//
//   WXCOUPON_ALLOWED_OUTBOUND_HOSTS=http://127.0.0.1:8079 \
//     jco serve wxcoupon_guest.wasm --jco-import tests/gateway-hosts/outbound-allow.js
//
// WXCOUPON_ALLOWED_OUTBOUND_HOSTS: comma-separated origins, `scheme://host[:port]` (the port
// defaults to 443 for https, 80 for http). Unset or empty: every outbound request is denied.
// A denied request fails with the wasi:http error `HTTP-request-denied` — the component answers
// `502 OUTBOUND_DENIED` — and no connection is made.
//
// How: `jco serve --jco-import` loads this module before the transpiled component, so the
// component's bindings pick up the wrapped `outgoingHandler.handle` of preview2-shim 0.26.1.
// (The shim's own `_denyHttp()` throws a plain string, which the bindings cannot lower into a
// wasi:http `error-code`: the component would trap instead of answering.)

import { outgoingHandler } from "@bytecodealliance/preview2-shim/http";

function defaultPort(scheme) {
  return scheme === "http" ? 80 : 443;
}

function parseOrigin(text) {
  const match = /^(https?):\/\/([A-Za-z0-9.-]+)(?::(\d+))?\/?$/.exec(text.trim());
  if (!match) {
    throw new Error(
      `WXCOUPON_ALLOWED_OUTBOUND_HOSTS: ${JSON.stringify(text)} is not scheme://host[:port]`,
    );
  }
  const scheme = match[1];
  const port = match[3] ? Number(match[3]) : defaultPort(scheme);
  return `${scheme}://${match[2].toLowerCase()}:${port}`;
}

const allowed = new Set(
  (process.env.WXCOUPON_ALLOWED_OUTBOUND_HOSTS ?? "")
    .split(",")
    .filter((entry) => entry.trim() !== "")
    .map(parseOrigin),
);

function originOf(request) {
  const scheme = request.scheme();
  const name =
    scheme === undefined || scheme.tag === "HTTPS"
      ? "https"
      : scheme.tag === "HTTP"
        ? "http"
        : String(scheme.val).toLowerCase();
  const authority = (request.authority() ?? "").toLowerCase();
  const [host, port] = authority.split(":");
  return `${name}://${host}:${port ? Number(port) : defaultPort(name)}`;
}

const handle = outgoingHandler.handle;
outgoingHandler.handle = function allowListedHandle(request, options) {
  const origin = originOf(request);
  if (!allowed.has(origin)) {
    // The origin only: never the path, headers or body.
    console.error(`outbound request denied: ${origin} is not in WXCOUPON_ALLOWED_OUTBOUND_HOSTS`);
    throw { tag: "HTTP-request-denied" };
  }
  return handle.call(this, request, options);
};

console.error(
  `outbound allow-list: ${allowed.size ? [...allowed].join(", ") : "(empty: everything denied)"}`,
);
