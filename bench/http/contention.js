// Contention: VUS users spend from the same few wallets (WALLETS, default 4, funded with FUND (100.00)
// Gold Coins each in setup) while small top-ups refill them, so balances hover near zero and
// spends are both accepted and refused. One request in ten is an overdraft attempt (a spend far
// above any balance), which must be refused 422 insufficient_funds. Environment: see common.js.
import { check } from 'k6';
import {
  amount, get, money, newKey, options as baseOptions, pick, positive, record, runId, summary,
} from './common.js';

const NAMES = ['spend', 'overdraft', 'topup', 'fund', 'balance'];
const ASSET = 'asset-gold-coin-001';
export const options = baseOptions(NAMES);

export function setup() {
  const run = runId();
  const fund = __ENV.FUND || '100.00';
  const users = [];
  for (let i = 1; i <= positive('WALLETS', 4); i += 1) {
    const userId = `${run}-hot-${i}`;
    const key = `${run}-fund-${i}`;
    const body = { userId, assetTypeId: ASSET, amount: fund, metadata: { source: 'k6 setup' } };
    const res = money('topup', body, key, [201], 'fund');
    if (!record('contention', 'topup', 'fund', key, body, res, false, false)) {
      throw new Error(`funding ${userId} failed: ${res.status} ${res.body}`);
    }
    users.push(userId);
  }
  return { run, users };
}

export default function (data) {
  const userId = pick(data.users);
  const roll = Math.random();
  const key = newKey(data.run);
  if (roll < 0.1) {
    const body = { userId, assetTypeId: ASSET, amount: '999999999.00', serviceDescription: 'overdraft attempt' };
    const res = money('spend', body, key, [422], 'overdraft');
    record('contention', 'spend', 'overdraft', key, body, res, true, false);
    check(res, { 'overdraft: 422 insufficient_funds': (r) => r.status === 422 && r.json('code') === 'insufficient_funds' });
  } else if (roll < 0.25) {
    const body = { userId, assetTypeId: ASSET, amount: amount(100, 1000) };
    const res = money('topup', body, key, [201]);
    record('contention', 'topup', 'topup', key, body, res, false, false);
    check(res, { 'topup: 201': (r) => r.status === 201 });
  } else {
    const body = { userId, assetTypeId: ASSET, amount: amount(1, 500), serviceDescription: 'contended item' };
    const res = money('spend', body, key, [201, 422]);
    record('contention', 'spend', 'spend', key, body, res, true, false);
    check(res, {
      'spend: 201 with a balance >= 0, or 422 insufficient_funds': (r) =>
        (r.status === 201 && Number(r.json('balance')) >= 0) ||
        (r.status === 422 && r.json('code') === 'insufficient_funds'),
    });
  }
}

export function teardown(data) {
  for (const userId of data.users) {
    const res = get(`/wallet/${userId}/balance?assetTypeId=${ASSET}`, 'balance');
    check(res, { 'hot wallet ends >= 0': (r) => r.status === 200 && Number(r.json('balances.0.balance')) >= 0 });
  }
}

export const handleSummary = summary('contention', NAMES);
