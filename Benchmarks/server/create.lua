-- wrk script: burnlink creates. Every request is the same POST /api/v1/secrets with a
-- 1 KiB body of random bytes (BENCH_BODY_FILE) and a fixed claim verifier
-- (BENCH_CLAIM_VERIFIER). No response() hook, so wrk's own cost per request stays as low
-- as for a static request; statuses are counted by wrk (> 399) and, exactly, from the
-- server's /metrics by run.sh.
local common = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/api/v1/secrets"
wrk.body = common.readfile(common.env("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Burnlink-Claim-Verifier"] = common.env("BENCH_CLAIM_VERIFIER")

function done(summary, latency, requests)
  common.report(summary, latency)
end
