-- thumbtest: the request handlers of t/nginx_test.sh (an example of using
-- resty.thumbnail in nginx). The corpus directory comes from the nginx
-- variable $thumb_corpus; files are named by the `file` query argument.

local thumbnail = require "resty.thumbnail"

local ngx = ngx
local io_open = io.open

local _M = {}

-- One cache per worker process, made on first use (not in the master).
local cache

local function get_cache()
    if not cache then
        local err
        cache, err = thumbnail.cache.new { size = 16 * 1024 * 1024, shards = 4 }
        if not cache then
            error("cache.new: " .. err)
        end
    end
    return cache
end

local function fail(status, msg)
    ngx.status = status
    ngx.header["Content-Type"] = "text/plain"
    ngx.header["X-Thumbnail-Error"] = msg
    ngx.say(msg)
    return ngx.exit(status)
end

local function args()
    local a = ngx.req.get_uri_args()
    local file, spec = a.file, a.spec
    if type(spec) ~= "string" then
        return fail(400, "missing spec")
    end
    if type(file) ~= "string" or not file:match("^[%w_][%w_.%-/]*$") or file:find("..", 1, true) then
        return fail(400, "bad file")
    end
    return file, spec, a
end

local function read_source(file)
    local f = io_open(ngx.var.thumb_corpus .. "/" .. file, "rb")
    if not f then
        return nil
    end
    local s = f:read("*a")
    f:close()
    return s
end

local function send(data, info, extra)
    ngx.header["Content-Type"] = info.media_type
    ngx.header["X-Width"] = info.width
    ngx.header["X-Height"] = info.height
    if extra then
        for k, v in pairs(extra) do
            ngx.header[k] = v
        end
    end
    ngx.print(data)
end

-- /thumb?file=...&spec=...: render on the event loop.
function _M.thumb()
    local file, spec = args()
    local src = read_source(file)
    if not src then
        return fail(404, "no such file")
    end
    local data, info = thumbnail.render(src, spec)
    if not data then
        return fail(thumbnail.http_status(info), info)
    end
    send(data, info)
end

-- /cached?file=...&spec=...: the per-worker cache; the source is fetched by
-- a loader (a subrequest, which yields) only on a miss.
function _M.cached()
    local file, spec = args()
    local canon, err = thumbnail.canonical(spec)
    if not canon then
        return fail(thumbnail.http_status(err), err)
    end
    local data, info = get_cache():get_or_render(file .. "|" .. canon, function()
        local res = ngx.location.capture("/corpus/" .. file)
        if res.status ~= 200 then
            return nil, "source status " .. res.status
        end
        return res.body
    end, spec)
    if not data then
        return fail(thumbnail.http_status(info), info)
    end
    send(data, info, { ["X-Cache"] = info.cache == "hit" and "HIT" or "MISS" })
end

-- /thread?file=...&spec=...[&max_out=N]: render in the thread pool.
function _M.thread()
    local file, spec, a = args()
    local src = read_source(file)
    if not src then
        return fail(404, "no such file")
    end
    local limits
    if a.max_out then
        local n = tonumber(a.max_out)
        limits = { max_output_width = n, max_output_height = n }
    end
    local data, info = thumbnail.render_in_thread("tpool", src, spec, limits)
    if not data then
        return fail(thumbnail.http_status(info), info)
    end
    send(data, info)
end

-- /stats: the cache's counters as JSON.
function _M.stats()
    ngx.header["Content-Type"] = "application/json"
    ngx.say((get_cache():stats_json()))
end

return _M
