-- resty.thumbnail.shared: a node-wide thumbnail cache on a lua_shared_dict.
--
-- A per-worker cache (resty.thumbnail's cache.new) renders and stores every
-- key once per worker. This one keeps the thumbnails in a lua_shared_dict,
-- which every worker of the nginx node reads and writes, and renders each
-- key once per node however many workers ask for it at the same time:
--
--   * the first request to miss puts an in-flight marker next to the key
--     (dict:add, atomic across workers, with an expiry: lock_ttl);
--   * requests that find the marker wait for it with ngx.sleep, 1 ms
--     doubling to 8 ms, and take the thumbnail (or the render's error)
--     when it appears;
--   * a marker whose owner died (its pid is gone, checked once the marker
--     is 50 ms old) is taken over by one waiter (dict:incr elects it); one
--     that outlives lock_ttl expires by itself.
--
-- Values are stored with a one-line header ("media_type format w h\n")
-- before the bytes. Only the event-loop phases that may yield can wait:
-- rewrite, access, content, ngx.timer. See bindings/lua/README.md.

local thumbnail = require "resty.thumbnail"
local ffi = require "ffi"

local ngx = ngx -- luacheck: ignore (the OpenResty global)
local type = type
local tostring = tostring
local tonumber = tonumber
local setmetatable = setmetatable
local pcall = pcall
local error = error
local min = math.min
local str_find = string.find
local str_sub = string.sub
local str_format = string.format
local str_match = string.match

pcall(ffi.cdef, "int kill(int pid, int sig);")
local C = ffi.C
local ESRCH = 3

local POLL_MIN = 0.001 -- s
local POLL_MAX = 0.008
local PID_CHECK = 0.05 -- markers older than this: is the owner alive?

-- render errors the same source and spec always give: kept for followers
local DETERMINISTIC = { ["invalid-spec"] = true, unsupported = true, corrupt = true, ["too-large"] = true }

local STATS = { "gets", "hits", "misses", "loads_deduped", "local_loads", "local_load_errors",
                "error_hits", "waits", "lock_takeovers", "store_failures", "oversize_rejects",
                "purges" }

local _M = {}
local methods = {}
local mt = { __index = methods }

local function bad_arg(reason)
    return "invalid-argument: " .. reason
end

local function num_option(opts, k, default, max)
    local v = opts[k]
    if v == nil then
        return default
    end
    if type(v) ~= "number" or v ~= v or v < 0 or v > max then
        return nil, bad_arg(("shared option %s must be a number in 0..%.0f"):format(k, max))
    end
    return v
end

local OPTIONS = { dict = true, ttl = true, lock_ttl = true, wait = true, error_ttl = true,
                  max_item = true, thread_pool = true }

-- shared.new{ dict = "name", ttl = 0, lock_ttl = 10, wait = lock_ttl,
--             error_ttl = 1, max_item = bytes, thread_pool = nil }
--   -> cache | nil, err
-- dict: a lua_shared_dict (required). ttl: seconds an entry lives, 0 until
-- evicted (the dict evicts least recently used entries when full).
-- lock_ttl: seconds a marker lives (bounds a leader that hangs). wait: the
-- longest a follower waits before it renders itself. error_ttl: seconds a
-- render error (invalid-spec, unsupported, corrupt, too-large) is kept so
-- followers get it too. max_item: larger thumbnails are returned but not
-- stored (default: an eighth of the dict). thread_pool: render with
-- render_in_thread in that nginx thread pool (default: on the event loop).
function _M.new(opts)
    if type(opts) ~= "table" then
        return nil, bad_arg("shared options must be a table")
    end
    for k in pairs(opts) do
        if not OPTIONS[k] then
            return nil, bad_arg("unknown shared option " .. tostring(k))
        end
    end
    if type(opts.dict) ~= "string" then
        return nil, bad_arg("shared option dict must be the name of a lua_shared_dict")
    end
    local dict = ngx and ngx.shared and ngx.shared[opts.dict]
    if not dict then
        return nil, bad_arg("no lua_shared_dict " .. opts.dict)
    end
    if opts.thread_pool ~= nil and type(opts.thread_pool) ~= "string" then
        return nil, bad_arg("shared option thread_pool must be a string")
    end
    local self = { dict = dict, name = opts.dict, thread_pool = opts.thread_pool }
    local err
    self.ttl, err = num_option(opts, "ttl", 0, 2 ^ 31)
    if err then return nil, err end
    self.lock_ttl, err = num_option(opts, "lock_ttl", 10, 2 ^ 31)
    if err then return nil, err end
    if self.lock_ttl == 0 then
        return nil, bad_arg("shared option lock_ttl must be positive")
    end
    self.wait, err = num_option(opts, "wait", self.lock_ttl, 2 ^ 31)
    if err then return nil, err end
    self.error_ttl, err = num_option(opts, "error_ttl", 1, 2 ^ 31)
    if err then return nil, err end
    local capacity = dict.capacity and dict:capacity() or 2 ^ 31
    self.max_item, err = num_option(opts, "max_item", math.floor(capacity / 8), 2 ^ 53)
    if err then return nil, err end
    return setmetatable(self, mt)
end

local function count(self, name)
    self.dict:incr("s:" .. name, 1, 0)
end

local function encode(data, info)
    return str_format("%s %s %d %d\n", info.media_type, info.format, info.width, info.height) .. data
end

local function decode(v, how)
    local nl = str_find(v, "\n", 1, true)
    if not nl then
        return nil, "internal: bad entry in the shared dict"
    end
    local media_type, format, w, h = str_match(str_sub(v, 1, nl - 1), "^(%S+) (%S+) (%d+) (%d+)$")
    return str_sub(v, nl + 1), {
        media_type = media_type,
        format = format,
        width = tonumber(w),
        height = tonumber(h),
        cache = how,
    }
end

local seq = 0

-- "pid start seq": the owner of a marker, when it was made, and a number
-- no other marker of this worker has
local function marker()
    seq = seq + 1
    return str_format("%d %.3f %d", ngx.worker.pid(), ngx.now(), seq)
end

-- the marker's owner died (checked once the marker is PID_CHECK old)
local function owner_dead(owner)
    local pid, started = str_match(owner, "^(%d+) ([%d.]+)")
    pid, started = tonumber(pid), tonumber(started)
    if not pid or pid == ngx.worker.pid() or ngx.now() - started < PID_CHECK then
        return false
    end
    return C.kill(pid, 0) == -1 and ffi.errno() == ESRCH
end

local function release(self, lkey, mine)
    if lkey and self.dict:get(lkey) == mine then
        self.dict:delete(lkey)
    end
end

-- The leader: load (the loader may yield), render, store, then drop the
-- marker, so that a follower that sees the marker gone finds the value.
local function lead(self, key, lkey, mine, src, spec, limits)
    local dict = self.dict
    if type(src) == "function" then
        local ok, loaded, load_err = pcall(src)
        if not ok then
            release(self, lkey, mine)
            error(loaded, 0)
        end
        if type(loaded) ~= "string" then
            release(self, lkey, mine)
            if loaded ~= nil then
                load_err = "loader returned a " .. type(loaded) .. ", not a string"
            end
            return nil, "load-failed: " .. tostring(load_err or "loader returned nil")
        end
        src = loaded
    end

    local data, info
    if self.thread_pool then
        data, info = thumbnail.render_in_thread(self.thread_pool, src, spec, limits)
    else
        data, info = thumbnail.render(src, spec, limits)
    end

    if data then
        count(self, "local_loads")
        if #data > self.max_item then
            count(self, "oversize_rejects")
        else
            local ok = dict:set("v:" .. key, encode(data, info), self.ttl)
            if not ok then
                count(self, "store_failures")
            end
        end
        info.cache = "rendered"
    else
        count(self, "local_load_errors")
        local name = str_match(info, "^([%w-]+):")
        if DETERMINISTIC[name] and self.error_ttl > 0 then
            dict:set("e:" .. key, info, self.error_ttl)
        end
    end
    release(self, lkey, mine)
    return data, info
end

-- another request's result for the key, if it is there: true, then
-- data, info (a thumbnail) or nil, err (a kept render error)
local function finished(self, vkey, ekey)
    local dict = self.dict
    local v = dict:get(vkey)
    if v then
        count(self, "loads_deduped")
        return true, decode(v, "deduped")
    end
    local e = dict:get(ekey)
    if e then
        count(self, "loads_deduped")
        return true, nil, e
    end
    return false
end

local function check(self, key, spec, limits)
    if getmetatable(self) ~= mt then
        return bad_arg("call as cache:method(...)")
    end
    if type(key) ~= "string" then
        return bad_arg("key must be a string")
    end
    if spec ~= nil and type(spec) ~= "string" then
        return bad_arg("spec must be a string")
    end
    if limits ~= nil and type(limits) ~= "table" then
        return bad_arg("limits must be a table")
    end
end

-- cache:get(key) -> data, info (info.cache == "hit") | nil (miss)
function methods.get(self, key)
    local err = check(self, key)
    if err then
        return nil, err
    end
    local v = self.dict:get("v:" .. key)
    if v then
        return decode(v, "hit")
    end
    return nil
end

-- cache:get_or_render(key, source_or_loader, spec [, limits])
--   -> data, info | nil, err
-- info: render()'s fields plus cache = "hit", "rendered" (this request
-- rendered) or "deduped" (another request, in any worker, rendered).
function methods.get_or_render(self, key, src, spec, limits)
    local err = check(self, key, spec, limits)
    if err then
        return nil, err
    end
    if type(src) ~= "string" and type(src) ~= "function" then
        return nil, bad_arg("source must be a string or a function")
    end
    -- an invalid spec is an error even on a hit
    local ok, spec_err = thumbnail.canonical(spec)
    if not ok then
        return nil, spec_err
    end

    local dict = self.dict
    local vkey, lkey, ekey = "v:" .. key, "l:" .. key, "e:" .. key
    count(self, "gets")

    local v = dict:get(vkey)
    if v then
        count(self, "hits")
        return decode(v, "hit")
    end
    local e = dict:get(ekey)
    if e then
        count(self, "hits")
        count(self, "error_hits")
        return nil, e
    end
    count(self, "misses")

    local waited = false
    local deadline = ngx.now() + self.wait
    local delay = POLL_MIN

    while true do
        local mine = marker()
        local added, add_err = dict:add(lkey, mine, self.lock_ttl)
        if added then
            -- a leader may have stored the value and dropped its marker
            -- between our miss and this add: look again before rendering
            local done, data, info = finished(self, vkey, ekey)
            if done then
                release(self, lkey, mine)
                return data, info
            end
            return lead(self, key, lkey, mine, src, spec, limits)
        end
        if add_err ~= "exists" then
            -- no room even for a marker: render without one
            return lead(self, key, nil, nil, src, spec, limits)
        end

        if not waited then
            waited = true
            count(self, "waits")
        end

        -- another request leads: wait for its value, its error, or its end
        while true do
            ngx.sleep(delay)
            delay = min(delay * 2, POLL_MAX)

            local done, data, info = finished(self, vkey, ekey)
            if done then
                return data, info
            end

            local owner = dict:get(lkey)
            if owner == nil then
                break -- it ended without a thumbnail: try to lead
            end
            if owner_dead(owner) then
                -- one taker per dead marker: the first to count it
                if dict:incr("t:" .. owner, 1, 0, self.lock_ttl) == 1 then
                    mine = marker()
                    dict:set(lkey, mine, self.lock_ttl)
                    count(self, "lock_takeovers")
                    ngx.log(ngx.WARN, "resty.thumbnail.shared: the render of ", key,
                            " by process ", owner, " is taken over")
                    return lead(self, key, lkey, mine, src, spec, limits)
                end
            end
            if ngx.now() >= deadline then
                -- waited long enough: render without the marker
                return lead(self, key, nil, nil, src, spec, limits)
            end
        end
    end
end

-- cache:purge(key) -> true (removed) | false (absent)
function methods.purge(self, key)
    local err = check(self, key)
    if err then
        return nil, err
    end
    local had = self.dict:get("v:" .. key) ~= nil
    self.dict:delete("v:" .. key)
    self.dict:delete("e:" .. key)
    if had then
        count(self, "purges")
    end
    return had
end

-- cache:stats() -> table, node-wide (all workers): gets hits misses loads
-- loads_deduped local_loads local_load_errors error_hits (groupcache's
-- names), renders (= local_loads + local_load_errors), waits,
-- lock_takeovers, store_failures, oversize_rejects, purges, and the dict's
-- capacity_bytes and free_bytes.
function methods.stats(self)
    local dict = self.dict
    local t = {}
    for i = 1, #STATS do
        t[STATS[i]] = dict:get("s:" .. STATS[i]) or 0
    end
    t.renders = t.local_loads + t.local_load_errors
    t.loads = t.renders + t.loads_deduped
    t.capacity_bytes = dict.capacity and dict:capacity() or nil
    t.free_bytes = dict.free_space and dict:free_space() or nil
    return t
end

return _M
