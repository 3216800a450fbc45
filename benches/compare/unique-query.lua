-- wrk script for the nginx miss rows: every request gets its own query
-- string (?t=THREAD&n=COUNT), so a cache key built from $request_uri differs
-- per request and the module's single-flight cannot merge two concurrent
-- renders. image_filter ignores the query.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  count = 0
end

function request()
  count = count + 1
  return wrk.format(nil, wrk.path .. "?t=" .. id .. "&n=" .. count)
end
