-- wrk script: burnlink claims, each id exactly once.
-- Usage: wrk ... -s claim.lua URL -- <ids file> <number of wrk threads>
-- Thread k claims the ids on lines k, k+n, k+2n, ... of the file, with
-- "Authorization: Bearer <BENCH_CLAIM_TOKEN>", and counts answers by status. A claim
-- counts as successful only with status 200 and a body of BENCH_SECRET_SIZE bytes.
-- A thread that runs out of ids stops; until wrk notices, its connections send
-- GET /healthz, counted apart as "filler" (run.sh then reports that ids ran out).
local common = dofile(os.getenv("BENCH_DIR") .. "/common.lua")

wrk.headers["Authorization"] = "Bearer " .. common.env("BENCH_CLAIM_TOKEN")
local secret_size = tonumber(common.env("BENCH_SECRET_SIZE"))

local threads = {}
local next_number = 0

function setup(thread)
  thread:set("number", next_number)
  next_number = next_number + 1
  threads[#threads + 1] = thread
end

local ids = {}
local position = 0
ok = 0
wrong_size = 0
filler = 0
ran_out = 0
statuses = {}

function init(args)
  local stride = tonumber(args[2])
  local line = 0
  for id in io.lines(args[1]) do
    if line % stride == number then ids[#ids + 1] = id end
    line = line + 1
  end
end

function request()
  position = position + 1
  local id = ids[position]
  if id == nil then
    ran_out = 1
    wrk.thread:stop()
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", "/api/v1/secrets/" .. id .. "/claim")
end

function response(status, headers, body)
  if status == 200 and body == '{"status":"ok"}' then
    filler = filler + 1
    return
  end
  statuses[status] = (statuses[status] or 0) + 1
  if status == 200 then
    if #body == secret_size then ok = ok + 1 else wrong_size = wrong_size + 1 end
  end
end

function done(summary, latency, requests)
  local totals = { ok = 0, wrong_size = 0, filler = 0, ran_out = 0 }
  for _, thread in ipairs(threads) do
    for name in pairs(totals) do totals[name] = totals[name] + (thread:get(name) or 0) end
  end
  common.report(summary, latency, {
    { "ok", totals.ok },
    { "wrong_size", totals.wrong_size },
    { "filler", totals.filler },
    { "ran_out_threads", totals.ran_out },
    { "statuses", common.format_statuses(common.sum_statuses(threads)) },
  })
end
