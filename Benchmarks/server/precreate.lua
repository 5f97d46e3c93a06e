-- wrk script: creates the secrets the claim run will claim, and records their ids.
-- Not a measurement. Usage: wrk ... -s precreate.lua URL -- <ids file prefix> <ids per thread>
-- (BENCH_EXPIRES_IN, if set, is sent as Burnlink-Expires-In.)
-- Each thread writes the ids of its 201 answers to "<prefix>.<thread number>" and stops
-- once it has its quota.
local common = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.path = "/api/v1/secrets"
wrk.body = common.readfile(common.env("BENCH_BODY_FILE"))
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Burnlink-Claim-Verifier"] = common.env("BENCH_CLAIM_VERIFIER")
-- Optional: a short expiry (seconds), for secrets the sweep should find expired.
local expires_in = os.getenv("BENCH_EXPIRES_IN")
if expires_in and expires_in ~= "" then wrk.headers["Burnlink-Expires-In"] = expires_in end

local threads = {}
local next_number = 0

function setup(thread)
  thread:set("number", next_number)
  next_number = next_number + 1
  threads[#threads + 1] = thread
end

local out, quota
created = 0
statuses = {}

function init(args)
  out = assert(io.open(args[1] .. "." .. number, "w"))
  out:setvbuf("line")
  quota = tonumber(args[2])
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status == 201 then
    local id = body:match('"id"%s*:%s*"([%w_-]+)"')
    if id then
      out:write(id, "\n")
      created = created + 1
      if created >= quota then
        out:flush()
        wrk.thread:stop()
      end
    end
  end
end

function done(summary, latency, requests)
  local created_total = 0
  for _, thread in ipairs(threads) do created_total = created_total + (thread:get("created") or 0) end
  common.report(summary, latency, {
    { "ids", created_total },
    { "statuses", common.format_statuses(common.sum_statuses(threads)) },
  })
end
