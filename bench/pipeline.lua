-- wrk script: HTTP/1.1 pipelining, 16 GET / requests in every write (the depth
-- can be changed with PIPELINE_DEPTH). wrk counts each response it parses, so
-- requests/s counts requests, not batches; a request's latency is measured from
-- the write of its batch.
--   wrk -t2 -c64 -d10s -s bench/pipeline.lua http://127.0.0.1:18080/
local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "16")

init = function(args)
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format(nil, "/")
   end
   req = table.concat(r)
end

request = function()
   return req
end

local report = os.getenv("WRK_REPORT_LUA")
if report then
   dofile(report)
end
