// API v3 in the Node package: the calls against the simulator over TLS (its CA as `ca`: the
// trust store is the caller's), built by the component and signed by Node, the answers checked
// by the component and their signatures verified by Node; the errors as classes, an issue's
// unknown outcome judged by the component's rule; the native signing and verification over the
// shared vectors (the vector's exact signature, a tampered answer refused); and the COUPON.USE
// callback helper over the vectors (test keys only), the flipped tag included.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as wx from 'wxcoupon';
import { v3 } from '../src/component.js';
import { ROOT } from './support/conformance.js';
import { startSimulator } from './support/simulator.js';

after(() => wx.closeConnections());

const APPID = 'wx5edab3bdfba3dc1c';
const fixture = (name) => readFileSync(join(ROOT, 'tests/fixtures/v3', name), 'utf8');
const vectors = JSON.parse(fixture('vectors.json'));

/** RFC 3339 in Beijing time, as WeChat writes it. */
function beijing(unixSeconds) {
  const d = new Date((unixSeconds + 8 * 3600) * 1000);
  return d.toISOString().replace(/\.\d{3}Z$/, '+08:00');
}

function simulatorMerchant(sim) {
  return wx.v3.openMerchant({
    mchid: sim.mch_id,
    merchantSerialNo: sim.v3_merchant_serial_no,
    apiv3Key: vectors.keys.apiv3_key,
    privateKeyPem: readFileSync(sim.v3_merchant_key, 'utf8'),
    wechatpayPublicKeyId: sim.v3_public_key_id,
    wechatpayPublicKeyPem: readFileSync(sim.v3_wechatpay_public_key, 'utf8'),
    baseUrl: sim.https_base_url,
  });
}

describe('v3 against the simulator', () => {
  test('a stock created, started, issued from, queried, paused and refused', async () => {
    const sim = await startSimulator();
    try {
      const options = { ca: readFileSync(sim.ca) };
      const m = simulatorMerchant(sim);
      const now = Math.floor(Date.now() / 1000);
      const { stockId } = await wx.v3.createStock(m, {
        stockName: 'node 满2减1', belongMerchant: sim.mch_id,
        availableBeginTime: beijing(now - 60), availableEndTime: beijing(now + 30 * 86400),
        stockUseRule: { maxCoupons: 10, maxAmount: 1000, maxCouponsPerUser: 1, naturalPersonLimit: false, preventApiAbuse: false },
        couponUseRule: { fixedNormalCoupon: { couponAmount: 100, transactionMinimum: 200 }, availableMerchants: [sim.mch_id] },
        noCash: false, stockType: 'NORMAL', outRequestNo: 'node-create-1',
      }, options);
      assert.match(stockId, /^\d+$/);
      await wx.v3.startStock(m, { stockId, stockCreatorMchid: sim.mch_id }, options);
      const issue = (openid, outRequestNo) => wx.v3.issueCoupon(m, { openid, stockId, outRequestNo, appid: APPID, stockCreatorMchid: sim.mch_id }, options);
      const { couponId } = await issue('o-node-1', 'node-1');
      assert.equal((await issue('o-node-1', 'node-1')).couponId, couponId, 'a repeat answers the same coupon');
      const stock = await wx.v3.queryStock(m, { stockId, stockCreatorMchid: sim.mch_id }, options);
      assert.equal(stock.stockId, stockId);
      assert.doesNotThrow(() => JSON.stringify(stock), 'amounts and counts are numbers, not BigInt');
      const coupon = await wx.v3.queryCoupon(m, { openid: 'o-node-1', couponId, appid: APPID }, options);
      assert.equal(coupon.couponId, couponId);

      await wx.v3.pauseStock(m, { stockId, stockCreatorMchid: sim.mch_id }, options);
      const refused = await issue('o-node-2', 'node-2').catch((e) => e);
      assert.ok(refused instanceof wx.v3.RefusedError, String(refused));
      assert.equal(refused.code, 'INVALID_REQUEST');
      assert.equal(refused.retryable, false);
      assert.equal(refused.outcomeUnknown, false, 'WeChat said no: nothing was issued');
      assert.equal(refused.partnerTradeNo, 'node-2');

      const bad = await issue('', 'node-3').catch((e) => e);
      assert.ok(bad instanceof wx.InvalidInputError);
      assert.equal(bad.field, 'openid');
    } finally {
      await sim.stop();
    }
  });

  test('an answer that does not verify is refused, a closed port is a transport error', async () => {
    const sim = await startSimulator();
    try {
      const other = wx.v3.openMerchant({
        mchid: sim.mch_id, merchantSerialNo: sim.v3_merchant_serial_no, apiv3Key: vectors.keys.apiv3_key,
        privateKeyPem: readFileSync(sim.v3_merchant_key, 'utf8'),
        // A key id the simulator does not sign with.
        wechatpayPublicKeyId: 'PUB_KEY_ID_NOT_THE_SIMULATORS',
        wechatpayPublicKeyPem: readFileSync(sim.v3_wechatpay_public_key, 'utf8'),
        baseUrl: sim.https_base_url,
      });
      // A 2xx answer (refusals are read before any signature): signed under a key not held.
      const e = await wx.v3.listStocks(other, { offset: 0, limit: 10, stockCreatorMchid: sim.mch_id }, { ca: readFileSync(sim.ca) }).catch((x) => x);
      assert.ok(e instanceof wx.v3.AnswerNotVerifiedError, String(e));
      assert.equal(e.refusal.tag, 'unknown-serial');
    } finally {
      await sim.stop();
    }
    const closed = await new Promise((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = s.address();
        s.close(() => resolve(port));
      });
    });
    const m = wx.v3.openMerchant({
      mchid: '1900000001', merchantSerialNo: vectors.keys.merchant.certificate_serial_no, apiv3Key: vectors.keys.apiv3_key,
      privateKeyPem: fixture('merchant_key.pem'), platformCertificates: [fixture('platform_cert.pem')],
      baseUrl: `http://127.0.0.1:${closed}`,
    });
    const e = await wx.v3.issueCoupon(m, { openid: 'o', stockId: '1', outRequestNo: 'n-1', appid: APPID, stockCreatorMchid: '1900000001' }).catch((x) => x);
    assert.ok(e instanceof wx.TransportError, String(e));
    assert.equal(e.outcomeUnknown, false, 'never connected: nothing sent');
  });
});

describe('v3 signed natively, over the vectors', () => {
  const keys = vectors.keys;
  const settings = {
    mchid: keys.merchant.mchid,
    merchantSerialNo: keys.merchant.certificate_serial_no,
    apiv3Key: keys.apiv3_key,
    privateKeyPem: fixture('merchant_key.pem'),
    wechatpayPublicKeyId: keys.platform.public_key_id,
    wechatpayPublicKeyPem: fixture('platform_pub.pem'),
  };
  const m = wx.v3.openMerchant(settings);
  const sent = vectors.request_signatures.find((v) => v.name === 'send_coupon');
  const answered = vectors.response_signatures.find((v) => v.name === 'send_coupon-200');
  const tampered = vectors.response_negative.find((v) => v.name === 'tampered-body');

  test("the request: the vector's message, signed by Node to the vector's signature", () => {
    assert.equal(m.signs(), true);
    const body = JSON.parse(sent.body);
    const openid = sent.canonical_url.split('/')[5];
    const signed = wx.v3.buildRequest('issueCoupon', m, { openid, stockId: body.stock_id, outRequestNo: body.out_request_no, appid: body.appid, stockCreatorMchid: body.stock_creator_mchid }, { timestamp: Number(sent.timestamp), nonce: sent.nonce_str });
    assert.equal(signed.method, 'POST');
    assert.equal(signed.url, sent.full_url);
    assert.equal(signed.body, sent.body);
    const authorization = new Map(signed.headers).get('authorization');
    assert.ok(authorization.includes(`signature="${sent.signature}"`), authorization);
  });

  test('the answer: verified by Node and read; a tampered one refused as the component refuses it', () => {
    const answer = (v) => ({ status: v.status, headers: v.headers, body: v.body });
    assert.equal(wx.v3.parseResponse('issueCoupon', m, answer(answered), answered.now).couponId, JSON.parse(answered.body).coupon_id);
    // Every check but the signature passes (the serial, the clock): only Node's verification fails.
    const e = (() => {
      try {
        wx.v3.parseResponse('issueCoupon', m, answer(tampered), tampered.now);
      } catch (x) {
        return x;
      }
      return null;
    })();
    assert.ok(e instanceof wx.v3.AnswerNotVerifiedError, String(e));
    assert.deepEqual(e.refusal, { tag: 'signature' });
    assert.equal(e.kind, 'answer-not-verified');
    // The component's own verification of the same answer says the same.
    assert.throws(() => v3.parseIssueCoupon(m, { ...answer(tampered), headers: Object.entries(tampered.headers) }, BigInt(tampered.now)), (x) => x.payload.tag === 'answer-not-verified' && x.payload.val.tag === 'signature');
  });

  test('the private key: read by Node, refused with the component\'s rule, never in a message', () => {
    const bad = (privateKeyPem) => {
      try {
        wx.v3.openMerchant({ ...settings, privateKeyPem });
      } catch (x) {
        return x;
      }
      return null;
    };
    for (const pem of ['not a key', fixture('platform_pub.pem'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n']) {
      const e = bad(pem);
      assert.ok(e instanceof wx.InvalidInputError, String(e));
      assert.equal(e.field, 'merchant.private_key');
      assert.ok(!e.message.includes('PRIVATE KEY-----'), e.message);
    }
    // A setting the component reads before the key is named first, as when it read the key.
    assert.equal(bad(undefined) ?? 'opened', 'opened');
    const both = (() => {
      try {
        wx.v3.openMerchant({ ...settings, mchid: 'x', privateKeyPem: 'not a key' });
      } catch (x) {
        return x;
      }
      return null;
    })();
    assert.equal(both.field, 'merchant.mchid');
    // Without a key: the calls refuse to sign.
    const reader = wx.v3.openMerchant({ ...settings, privateKeyPem: undefined });
    assert.equal(reader.signs(), false);
    assert.throws(() => wx.v3.buildRequest('issueCoupon', reader, { openid: 'o', stockId: '1', outRequestNo: 'n', appid: 'a', stockCreatorMchid: '1' }), (x) => x instanceof wx.InvalidInputError && x.field === 'merchant.private_key');
  });
});

describe('v3 callbacks', () => {
  const m = wx.v3.openMerchant({
    mchid: vectors.keys.merchant.mchid,
    merchantSerialNo: vectors.keys.merchant.certificate_serial_no,
    apiv3Key: vectors.keys.apiv3_key,
    wechatpayPublicKeyId: vectors.keys.platform.public_key_id,
    wechatpayPublicKeyPem: fixture('platform_pub.pem'),
    platformCertificates: [fixture('platform_cert.pem')],
  });

  test('the vectors: verified and decrypted, the flipped tag yields nothing', () => {
    for (const v of vectors.notifications) {
      if (v.expected.decrypt_ok) {
        const event = wx.v3.readCouponUse(m, v.headers, v.body, v.now);
        const plain = JSON.parse(v.expected.plaintext);
        assert.equal(event.coupon.couponId, plain.coupon_id, v.name);
        assert.equal(event.eventType, 'COUPON.USE');
      } else {
        const e = (() => {
          try {
            wx.v3.readCouponUse(m, v.headers, v.body, v.now);
          } catch (x) {
            return x;
          }
          return null;
        })();
        assert.ok(e instanceof wx.v3.NotificationError, v.name);
        assert.equal(e.kind, 'not-decrypted');
        assert.equal(e.status, 400);
        assert.match(e.failureBody, /"code":"FAIL"/);
      }
    }
  });

  test('a probe and a stale callback are refused as unverified', () => {
    const v = vectors.notifications[0];
    const probe = { ...v.headers, 'Wechatpay-Signature': 'WECHATPAY/SIGNTEST/' + v.headers['Wechatpay-Signature'] };
    for (const [headers, now] of [[probe, v.now], [v.headers, v.now + 3600]]) {
      let e = null;
      try {
        wx.v3.readCouponUse(m, headers, v.body, now);
      } catch (x) {
        e = x;
      }
      assert.ok(e instanceof wx.v3.NotificationError);
      assert.equal(e.status, 401);
    }
  });
});
