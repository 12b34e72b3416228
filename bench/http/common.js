// Shared by the k6 scenarios in this folder (run by load.sh) and by ../depth/reads.js.
//
// Environment: BASE_URL (default http://127.0.0.1:3000), API_KEY (required), DURATION (30s),
// VUS (20), USERS (10000), P95_MS (500), P99_MS (1500), RUN_ID (prefix of the idempotency keys,
// default: the start time), SUMMARY (where handleSummary writes the JSON summary).
//
// Every acknowledged (201) money request is logged as one JSON line
// {"scenario", "endpoint", "key", "tx", "amount"} with console.log: run k6 with
// `--log-format=raw --console-output=ACKS` to collect them in a file. handleSummary only sees
// the aggregated metrics, never what each VU saw, so the acknowledgements cannot go into SUMMARY.
import http from 'k6/http';
import exec from 'k6/execution';
import { Counter } from 'k6/metrics';

export const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:3000').replace(/\/+$/, '');
export const USERS = positive('USERS', 10000);
const API = `${BASE_URL}/api/v1`;
const API_KEY = __ENV.API_KEY || '';
if (!API_KEY) throw new Error('API_KEY is required (a key with every wallet scope)');

export const acknowledged = new Counter('acknowledged');  // 201 money answers, by name
export const refused = new Counter('insufficient_funds');  // 422 insufficient_funds, by name
export const inFlight = new Counter('in_flight');  // 409 idempotency_key_in_flight, by name
export const unexpected = new Counter('unexpected_answers');  // anything else, by name and status

export const ASSETS = ['asset-gold-coin-001', 'asset-diamond-001', 'asset-loyalty-001'];

export function positive(name, fallback) {
  const raw = __ENV[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not '${raw}'`);
  return value;
}

// Idempotency keys start with the run id, so two runs against one database never collide.
// Computed in setup(): the init code runs once per VU, each at its own moment.
export function runId() {
  return __ENV.RUN_ID || `load-${Date.now().toString(36)}`;
}

export function pick(items) {
  return items[Math.floor(Math.random() * items.length)];
}

export function randomUser(prefix) {
  return `${prefix}-${1 + Math.floor(Math.random() * USERS)}`;
}

// "12.34" from whole cents, between lo and hi cents
export function amount(lo, hi) {
  const cents = lo + Math.floor(Math.random() * (hi - lo + 1));
  return `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`;
}

// A key unique in the test: run, VU, iteration, and a counter for several per iteration.
let sequence = 0;
export function newKey(run) {
  sequence += 1;
  return `${run}-${exec.vu.idInTest}-${exec.vu.iterationInScenario}-${sequence}`;
}

function headers(extra) {
  return Object.assign({ Authorization: `Bearer ${API_KEY}` }, extra || {});
}

// The parameters of a money request, for http.post or http.batch. `expected` are the statuses
// that are answers, not failures, in http_req_failed (e.g. 422 for a spend).
export function moneyParams(endpoint, key, expected, name) {
  return {
    headers: headers({ 'Content-Type': 'application/json', 'Idempotency-Key': key }),
    tags: { name: name || endpoint },
    responseCallback: http.expectedStatuses(...expected),
  };
}

export function moneyUrl(endpoint) {
  return `${API}/wallet/${endpoint}`;
}

export function money(endpoint, body, key, expected, name) {
  return http.post(moneyUrl(endpoint), JSON.stringify(body), moneyParams(endpoint, key, expected, name));
}

export function get(path, name) {
  return http.get(`${API}${path}`, { headers: headers(), tags: { name } });
}

export function problemCode(res) {
  try {
    return res.json('code');
  } catch (_) {
    return null;
  }
}

let shown = 0;  // unexpected answers printed by this VU (the first few only)

// Sorts one money answer into the counters; returns the transaction id of a 201, else null.
// 422 insufficient_funds counts as refused only where `mayRefuse`; 409 in flight only where
// `mayBeInFlight`; anything else is unexpected.
export function record(scenario, endpoint, name, key, body, res, mayRefuse, mayBeInFlight) {
  const tags = { name };
  if (res.status === 201) {
    const tx = res.json('transactionId');
    acknowledged.add(1, tags);
    console.log(JSON.stringify({ scenario, endpoint, key, tx, amount: body.amount }));
    return tx;
  }
  const code = problemCode(res);
  if (mayRefuse && res.status === 422 && code === 'insufficient_funds') refused.add(1, tags);
  else if (mayBeInFlight && res.status === 409 && code === 'idempotency_key_in_flight') inFlight.add(1, tags);
  else {
    unexpected.add(1, { name, status: String(res.status) });
    shown += 1;
    if (shown <= 3) console.warn(`unexpected ${res.status} on ${name}: ${String(res.body).slice(0, 300)}`);
  }
  return null;
}

// Options shared by the scenarios: a closed model of VUS users for DURATION, thresholds on the
// error rate, the tail latency and the answers, and a submetric per endpoint name so that the
// summary has requests and percentiles for each.
export function options(names, extraThresholds) {
  const p95 = positive('P95_MS', 500);
  const p99 = positive('P99_MS', 1500);
  const thresholds = Object.assign(
    {
      http_req_failed: ['rate<0.01'],
      http_req_duration: [`p(95)<${p95}`, `p(99)<${p99}`],
      unexpected_answers: ['count<1'],
      checks: ['rate>0.99'],
    },
    extraThresholds || {},
  );
  for (const name of names) {
    thresholds[`http_req_duration{name:${name}}`] = ['max>=0'];
    thresholds[`http_reqs{name:${name}}`] = ['count>=0'];
    thresholds[`http_req_failed{name:${name}}`] = ['rate>=0'];
    for (const counter of ['acknowledged', 'insufficient_funds', 'in_flight', 'unexpected_answers']) {
      thresholds[`${counter}{name:${name}}`] = ['count>=0'];
    }
  }
  return {
    scenarios: {
      load: {
        executor: 'constant-vus',
        vus: positive('VUS', 20),
        duration: __ENV.DURATION || '30s',
      },
    },
    thresholds,
    summaryTrendStats: ['avg', 'min', 'med', 'max', 'p(95)', 'p(99)', 'count'],
    setupTimeout: '120s',
    teardownTimeout: '60s',
    // the 201 bodies are read for their transaction ids; nothing else is large
    discardResponseBodies: false,
  };
}

// The JSON summary for load.sh: the metrics, each threshold's verdict, the run's length.
export function summary(scenario, names) {
  return function handleSummary(data) {
    const out = {
      scenario,
      names,
      run: data.setup_data ? data.setup_data.run : null,
      durationMs: data.state.testRunDurationMs,
      metrics: data.metrics,
    };
    const failed = [];
    for (const [metric, value] of Object.entries(data.metrics)) {
      for (const [rule, verdict] of Object.entries(value.thresholds || {})) {
        if (!verdict.ok) failed.push(`${metric}: ${rule}`);
      }
    }
    out.failedThresholds = failed;
    const files = {
      stdout: failed.length ? `thresholds crossed:\n  ${failed.join('\n  ')}\n` : 'every threshold held\n',
    };
    files[__ENV.SUMMARY || `summary-${scenario}.json`] = JSON.stringify(out, null, 1);
    return files;
  };
}
