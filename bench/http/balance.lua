-- wrk script: GET the balances of one of USERS users (bench-user-1 .. USERS, default 10000),
-- the read twin of ../shared/bench/topup.lua, for "reads against writes" in docs/performance.md.
-- env: WALLET_API_KEY (a key with wallet:read), USERS
local users = tonumber(os.getenv("USERS") or "10000")
local auth = os.getenv("WALLET_API_KEY")
function init(args)
  local f = io.open("/dev/urandom", "rb"); local b = f:read(6); f:close()
  local s = 0; for i = 1, #b do s = s * 256 + b:byte(i) end
  math.randomseed(s)
end
function request()
  local headers = {}
  if auth and auth ~= "" then headers["Authorization"] = "Bearer " .. auth end
  return wrk.format("GET", string.format("/api/v1/wallet/bench-user-%d/balance", math.random(1, users)), headers)
end
-- rps counts only successful (2xx) responses, as topup.lua does
function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    math.max(0, summary.requests - errors) / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors))
end
