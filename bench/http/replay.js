// A replay storm. Each iteration is one of:
//   * a new top-up, bonus or spend, sent as 1 to 3 concurrent copies (http.batch) with one key:
//     the first claims the key; a copy that overlaps it answers 409 idempotency_key_in_flight,
//     a later one the same 201 replayed;
//   * a replay of one of this VU's earlier acknowledged requests: the same transactionId, with
//     Idempotent-Replayed: true;
//   * a request from a pool of SHARED (default 500) keys that every VU sends, each key always
//     with the same body, so that repeats race across VUs.
// Every 201 for a key this VU has seen before must carry the transactionId it saw; load.sh
// checks the same across VUs, from the acknowledgements. Spends draw from SPENDERS (20) users
// funded in setup, so that no spend is refused. Environment: see common.js.
import http from 'k6/http';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import {
  ASSETS, amount, moneyParams, moneyUrl, newKey, options as baseOptions, pick, positive, record,
  runId, summary, USERS,
} from './common.js';

const NAMES = ['topup', 'bonus', 'spend', 'replay', 'shared', 'fund'];
const ASSET = 'asset-gold-coin-001';
const SHARED = positive('SHARED', 500);
const mismatches = new Counter('replay_mismatches');
export const options = baseOptions(NAMES, { replay_mismatches: ['count<1'] });

export function setup() {
  const run = runId();
  const spenders = [];
  for (let i = 1; i <= positive('SPENDERS', 20); i += 1) {
    const userId = `${run}-spender-${i}`;
    const key = `${run}-fund-${i}`;
    const body = { userId, assetTypeId: ASSET, amount: '1000000.00' };
    const res = http.post(moneyUrl('topup'), JSON.stringify(body), moneyParams('topup', key, [201], 'fund'));
    if (!record('replay', 'topup', 'fund', key, body, res, false, false)) {
      throw new Error(`funding ${userId} failed: ${res.status} ${res.body}`);
    }
    spenders.push(userId);
  }
  return { run, spenders };
}

const history = [];  // {endpoint, body, key, tx} acknowledged to this VU
const seen = {};  // key -> transactionId, as first acknowledged to this VU

// Sends `copies` concurrent copies of one request; returns the transactionId acknowledged, if any.
function burst(endpoint, body, key, copies, name) {
  const payload = JSON.stringify(body);
  const params = moneyParams(endpoint, key, [201, 409], name);
  const requests = [];
  for (let i = 0; i < copies; i += 1) requests.push(['POST', moneyUrl(endpoint), payload, params]);
  let tx = null;
  for (const res of http.batch(requests)) {
    const got = record('replay', endpoint, name, key, body, res, false, true);
    if (!got) continue;
    const before = seen[key] || tx;
    const same = before === null || before === undefined || before === got;
    if (!same) mismatches.add(1, { name });
    check(res, { 'replay answers the same transactionId': () => same });
    tx = tx || got;
  }
  if (tx && !seen[key]) seen[key] = tx;
  return tx;
}

export default function (data) {
  const roll = Math.random();
  if (roll < 0.4 || history.length === 0) {
    const user = `replay-user-${1 + Math.floor(Math.random() * USERS)}`;
    const kind = Math.random();
    let endpoint;
    let body;
    if (kind < 0.4) {
      endpoint = 'topup';
      body = { userId: user, assetTypeId: pick(ASSETS), amount: amount(100, 10000) };
    } else if (kind < 0.6) {
      endpoint = 'bonus';
      body = { userId: user, assetTypeId: pick(ASSETS), amount: amount(1, 1000), reason: 'replay storm' };
    } else {
      endpoint = 'spend';
      body = { userId: pick(data.spenders), assetTypeId: ASSET, amount: amount(1, 100), serviceDescription: 'replayed item' };
    }
    const key = newKey(data.run);
    const tx = burst(endpoint, body, key, 1 + Math.floor(Math.random() * 3), endpoint);
    check(tx, { 'a new request is acknowledged once': (t) => t !== null });
    if (tx) {
      history.push({ endpoint, body, key, tx });
      if (history.length > 500) history.shift();
    }
  } else if (roll < 0.7) {
    const old = pick(history);
    const res = http.post(moneyUrl(old.endpoint), JSON.stringify(old.body), moneyParams(old.endpoint, old.key, [201], 'replay'));
    const tx = record('replay', old.endpoint, 'replay', old.key, old.body, res, false, false);
    if (tx !== old.tx) mismatches.add(1, { name: 'replay' });
    check(res, {
      'replay answers the same transactionId': () => tx === old.tx,
      'replay says Idempotent-Replayed: true': (r) => r.headers['Idempotent-Replayed'] === 'true',
    });
  } else {
    const s = Math.floor(Math.random() * SHARED);
    const body = { userId: `replay-user-${1 + (s % USERS)}`, assetTypeId: ASSET, amount: `${1 + (s % 97)}.00` };
    burst('topup', body, `${data.run}-shared-${s}`, 1 + Math.floor(Math.random() * 2), 'shared');
  }
}

export const handleSummary = summary('replay', NAMES);
