// Balance reads only: each iteration reads the balances of one random user of USERS, named
// PREFIX-1 .. PREFIX-USERS (default load-user). Used by make bench-depth against the depth
// fixture (bench_depth.sh), where most users hold a Gold Coin wallet. k6's own summary reports
// the figures. Environment: see ../http/common.js, shared with the HTTP load scenarios.
import { check } from 'k6';
import { get, options as baseOptions, randomUser } from '../http/common.js';

const PREFIX = __ENV.PREFIX || 'load-user';
export const options = baseOptions(['balance']);

export default function () {
  const res = get(`/wallet/${randomUser(PREFIX)}/balance`, 'balance');
  check(res, { 'balance 200': (r) => r.status === 200 });
}
