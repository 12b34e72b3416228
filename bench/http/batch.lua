-- wrk script: POST atomic batches of BATCH top-ups of 1.00 gold, each item to one of USERS users
-- (chosen at random: a user twice is two items), each batch with a fresh Idempotency-Key. The
-- batch twin of ../shared/bench/topup.lua: the same users, amount and RESULT line, so that
-- items/s = rps x BATCH compares with the yardstick's top-ups/s.
-- env: WALLET_API_KEY (a key with wallet:batch, sent as a Bearer token), USERS (default 10000),
--      BATCH (items per batch, default 100)
local counter, prefix = 0, ""
local users = tonumber(os.getenv("USERS") or "10000")
local size = tonumber(os.getenv("BATCH") or "100")
local auth = os.getenv("WALLET_API_KEY")
function init(args)
  local f = io.open("/dev/urandom", "rb"); local b = f:read(6); f:close()
  local s = 0; for i = 1, #b do s = s * 256 + b:byte(i) end
  math.randomseed(s)
  prefix = string.format("%x-%x", s, math.random(1, 2^30))
end
function request()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json", ["Idempotency-Key"] = prefix .. "-" .. counter}
  if auth and auth ~= "" then headers["Authorization"] = "Bearer " .. auth end
  local items = {}
  for i = 1, size do
    items[i] = string.format('{"userId":"bench-user-%d","amount":"1.00"}', math.random(1, users))
  end
  local body = '{"type":"topup","assetTypeId":"asset-gold-coin-001","items":[' .. table.concat(items, ",") .. ']}'
  return wrk.format("POST", "/api/v1/wallet/batch", headers, body)
end
-- rps counts only successful (2xx) responses, as topup.lua does; items/s is rps x BATCH
function done(summary, latency, requests)
  local errors = summary.errors.status + summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d\n",
    math.max(0, summary.requests - errors) / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, errors))
end
