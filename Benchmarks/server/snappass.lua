-- wrk script: SnapPass creates. SnapPass 1.6 creates a secret with POST / and a form of
-- `password` and `ttl` (one of "hour", "day", "week", "two weeks"); with
-- "Accept: application/json" it answers {"link", "ttl"} instead of rendering a page.
-- The password is BENCH_SECRET_SIZE random letters and digits (BENCH_SNAPPASS_PASSWORD_FILE),
-- so form encoding does not change its size.
local common = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

local password = common.readfile(common.env("BENCH_SNAPPASS_PASSWORD_FILE"))
wrk.method = "POST"
wrk.path = "/"
wrk.body = "ttl=hour&password=" .. password
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"

function done(summary, latency, requests)
  common.report(summary, latency)
end
