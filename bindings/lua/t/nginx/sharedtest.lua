-- sharedtest: the request handlers of t/nginx_shared_test.py, which runs
-- them in nginx with 2 workers: resty.thumbnail.shared on a
-- lua_shared_dict. Files are named by the `file` query argument, relative
-- to the nginx variable $thumb_corpus.

local thumbnail = require "resty.thumbnail"

local ngx = ngx
local io_open = io.open

local _M = {}

-- one object per worker and configuration, made on first use
local caches = {}

local CONFIGS = {
    main = { dict = "thumbs" },
    small = { dict = "thumbs", max_item = 2000 },
}

local function get_cache(name)
    local c = caches[name]
    if not c then
        local err
        c, err = thumbnail.shared.new(CONFIGS[name])
        if not c then
            error("shared.new: " .. err)
        end
        caches[name] = c
    end
    return c
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
    local canon, err = thumbnail.canonical(spec)
    if not canon then
        return fail(thumbnail.http_status(err), err)
    end
    local name = a.cache or "main"
    if not CONFIGS[name] then
        return fail(400, "bad cache")
    end
    return file, spec, name .. "|" .. file .. "|" .. canon, a, name
end

-- /s?file=...&spec=...[&sleep=s][&cache=small]: the shared cache; the
-- loader (reading the file, after sleeping `sleep` seconds: a slow origin)
-- runs only in the request that renders.
function _M.thumb()
    local file, spec, key, a, name = args()
    local data, info = get_cache(name):get_or_render(key, function()
        local s = tonumber(a.sleep)
        if s then
            ngx.sleep(s)
        end
        local f = io_open(ngx.var.thumb_corpus .. "/" .. file, "rb")
        if not f then
            return nil, "no such file"
        end
        local src = f:read("*a")
        f:close()
        return src
    end, spec)
    ngx.header["X-Worker"] = ngx.worker.pid()
    if not data then
        return fail(thumbnail.http_status(info), info)
    end
    ngx.header["Content-Type"] = info.media_type
    ngx.header["X-Cache"] = info.cache
    ngx.header["X-Size"] = info.width .. "x" .. info.height
    ngx.print(data)
end

-- /marker?file=...&spec=...: the key's in-flight marker ("pid start seq")
function _M.marker()
    local _, _, key = args()
    ngx.say(ngx.shared.thumbs:get("l:" .. key) or "none")
end

-- /purge?file=...&spec=...
function _M.purge()
    local _, _, key, _, name = args()
    ngx.say(tostring(get_cache(name):purge(key)))
end

-- /sstats: the node-wide counters as JSON
function _M.stats()
    local t = get_cache("main"):stats()
    local parts = {}
    for k, v in pairs(t) do
        parts[#parts + 1] = string.format("%q:%d", k, v)
    end
    ngx.header["Content-Type"] = "application/json"
    ngx.say("{" .. table.concat(parts, ",") .. "}")
end

function _M.pid()
    ngx.say(ngx.worker.pid())
end

return _M
