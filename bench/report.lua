-- wrk `done` hook: prints one machine-readable line (WRKJSON {...}) with the
-- run's summary and latency percentiles in microseconds. bench.py reads it.
-- Loaded with `wrk -s report.lua`, or by pipeline.lua through WRK_REPORT_LUA.
--
-- Latency figures are wrk's own (the same as `wrk --latency` prints), with one
-- repair. Before reporting, wrk 4.1 "corrects" its histogram for coordinated
-- omission: for each recorded latency n >= 2e it adds samples at n-e, n-2e, ...
-- with e = runtime / (requests / connections). When some of those land below the
-- recorded minimum (pipelining: latency is recorded once per batch but e is per
-- request, so e is tiny) wrk's percentile walk, which starts at the minimum,
-- never reaches the rank and returns 0 (wrk prints "99% 0.00us"). The samples
-- below the minimum all rank first, so percentile p of the whole histogram is
-- percentile p - (100 - q) of wrk's walk, where q is the highest percentile
-- that walk can still reach; q is found by bisection.
-- The highest percentile wrk's walk can reach (100 unless samples lie below min).
local function reachable(latency)
   if latency:percentile(100) > 0 then
      return 100
   end
   local lo, hi = 0, 100
   for _ = 1, 50 do
      local mid = (lo + hi) / 2
      if latency:percentile(mid) > 0 then lo = mid else hi = mid end
   end
   return lo
end

local function percentile(latency, q, p)
   local shifted = p - (100 - q)
   if shifted <= 0 then
      return latency.min  -- inside the samples below the minimum: at most the minimum
   end
   return latency:percentile(shifted)
end

done = function(summary, latency, requests)
   local e = summary.errors
   local q = reachable(latency)
   io.write(string.format(
      'WRKJSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
      '"connect_errors":%d,"read_errors":%d,"write_errors":%d,"timeouts":%d,"non2xx":%d,' ..
      '"p50_us":%d,"p90_us":%d,"p99_us":%d,"p999_us":%d,"mean_us":%.1f,"max_us":%d,' ..
      '"wrk_p99_us":%d,"reachable_pct":%.4f}\n',
      summary.duration, summary.requests, summary.bytes,
      e.connect, e.read, e.write, e.timeout, e.status,
      percentile(latency, q, 50), percentile(latency, q, 90), percentile(latency, q, 99),
      percentile(latency, q, 99.9), latency.mean, latency.max,
      latency:percentile(99), q))
end
