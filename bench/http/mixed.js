// Mixed traffic across USERS users (load-user-1 .. load-user-USERS, no wallets at the start):
// top-ups, bonuses and spends in three assets, balance reads and ledger reads. A spend above the
// balance is answered 422 insufficient_funds: an answer, counted apart, not an error.
// Environment: see common.js.
import { check } from 'k6';
import {
  ASSETS, USERS, amount, get, money, newKey, options as baseOptions, pick, record, runId, summary,
} from './common.js';

const NAMES = ['topup', 'bonus', 'spend', 'balance', 'ledger'];
export const options = baseOptions(NAMES);

export function setup() {
  return { run: runId() };
}

const funded = [];  // {userId, asset} this VU credited recently, for spends
const wallets = [];  // wallet ids this VU has seen, for ledger reads
function remember(walletId) {
  if (walletId && wallets.length < 1000 && !wallets.includes(walletId)) wallets.push(walletId);
}

export default function (data) {
  const user = `load-user-${1 + Math.floor(Math.random() * USERS)}`;
  const asset = pick(ASSETS);
  const roll = Math.random();
  if (roll < 0.6) {
    let endpoint;
    let body;
    if (roll < 0.25) {
      endpoint = 'topup';
      body = { userId: user, assetTypeId: asset, amount: amount(100, 10000), metadata: { source: 'k6' } };
    } else if (roll < 0.35) {
      endpoint = 'bonus';
      body = { userId: user, assetTypeId: asset, amount: amount(1, 2000), reason: 'load test bonus' };
    } else {
      endpoint = 'spend';
      // mostly from a wallet this VU funded (it may have been spent since), else anyone's
      const target = funded.length && Math.random() < 0.7 ? pick(funded) : { userId: user, asset };
      body = { userId: target.userId, assetTypeId: target.asset, amount: amount(1, 5000), serviceDescription: 'load test item' };
    }
    const key = newKey(data.run);
    const res = money(endpoint, body, key, endpoint === 'spend' ? [201, 422] : [201]);
    const tx = record('mixed', endpoint, endpoint, key, body, res, endpoint === 'spend', false);
    check(res, { 'money: 201, or 422 insufficient_funds for a spend': (r) => r.status === 201 || (endpoint === 'spend' && r.status === 422) });
    if (tx) remember(res.json('walletId'));
    if (tx && endpoint !== 'spend') {
      funded.push({ userId: user, asset });
      if (funded.length > 200) funded.shift();
    }
  } else if (roll < 0.85 || wallets.length === 0) {
    const res = get(`/wallet/${user}/balance`, 'balance');
    check(res, { 'balance: 200': (r) => r.status === 200 });
    if (res.status === 200) for (const b of res.json('balances') || []) remember(b.walletId);
  } else {
    const res = get(`/wallet/${pick(wallets)}/ledger?limit=20`, 'ledger');
    check(res, { 'ledger: 200': (r) => r.status === 200 });
  }
}

export const handleSummary = summary('mixed', NAMES);
