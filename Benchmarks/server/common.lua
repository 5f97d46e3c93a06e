-- Shared by the wrk scripts of Benchmarks/server/run.sh (loaded with dofile in every
-- Lua state wrk creates: the setup/done state and one per thread).

local common = {}

function common.readfile(path)
  local file = assert(io.open(path, "rb"))
  local data = file:read("*a")
  file:close()
  return data
end

function common.env(name)
  local value = os.getenv(name)
  if value == nil or value == "" then error("environment variable " .. name .. " is not set") end
  return value
end

-- Prints one machine-readable line, "BENCH key=value ...", that run.sh parses.
-- Latencies are in microseconds, as wrk measures them.
function common.report(summary, latency, extra)
  local e = summary.errors
  local fields = {
    string.format("requests=%d", summary.requests),
    string.format("duration_us=%d", summary.duration),
    string.format("connect_errors=%d", e.connect),
    string.format("read_errors=%d", e.read),
    string.format("write_errors=%d", e.write),
    string.format("timeouts=%d", e.timeout),
    string.format("status_errors=%d", e.status), -- responses with status > 399
    string.format("p50_us=%d", latency:percentile(50.0)),
    string.format("p90_us=%d", latency:percentile(90.0)),
    string.format("p99_us=%d", latency:percentile(99.0)),
    string.format("max_us=%d", latency.max),
  }
  for _, pair in ipairs(extra or {}) do
    fields[#fields + 1] = pair[1] .. "=" .. tostring(pair[2])
  end
  io.write("BENCH " .. table.concat(fields, " ") .. "\n")
end

-- Adds the per-status counts of every thread (thread:get("statuses")) into one table.
function common.sum_statuses(threads)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      total[status] = (total[status] or 0) + count
    end
  end
  return total
end

function common.format_statuses(statuses)
  local keys = {}
  for status in pairs(statuses) do keys[#keys + 1] = status end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, status in ipairs(keys) do parts[#parts + 1] = tostring(status) .. ":" .. statuses[status] end
  if #parts == 0 then return "none" end
  return table.concat(parts, ",")
end

return common
