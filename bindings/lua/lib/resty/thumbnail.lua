-- resty.thumbnail: LuaJIT FFI bindings of libthumbnail (thumbnails of JPEG,
-- PNG, GIF and WebP as JPEG, PNG, WebP or AVIF, with limits, Accept
-- negotiation, and a sharded in-memory cache), for OpenResty and plain
-- LuaJIT. See bindings/lua/README.md.
--
-- Conventions (as in lua-resty-core): functions return their value(s) or
-- `nil, err`, where err is the library's `name: reason` message (e.g.
-- "invalid-spec: ..."); bad input never throws. Only loading the module
-- throws, when the library cannot be found or has another ABI version.
--
-- Module-level buffers (error buffer, out-pointers, limits) are reused by
-- every call. That is safe because a LuaJIT VM runs one coroutine at a time
-- and no function here yields between filling a buffer and reading it back
-- (the loader of cache:get_or_render() runs before any buffer is filled).
-- ngx.run_worker_thread() runs functions in a separate Lua VM per thread,
-- each of which loads its own copy of this module and its own buffers.

local ffi = require "ffi"
local cdefs = require "resty.thumbnail.cdefs"

local ffi_new = ffi.new
local ffi_str = ffi.string
local ffi_gc = ffi.gc
local type = type
local tonumber = tonumber
local tostring = tostring
local pairs = pairs
local ipairs = ipairs
local setmetatable = setmetatable
local getmetatable = getmetatable
local floor = math.floor
local str_find = string.find
local str_sub = string.sub


if not pcall(ffi.typeof, "thumbnail_cache_stats") then
    ffi.cdef(cdefs.cdef)
end


-- Loading the library ----------------------------------------------------

-- The optional configuration module `resty.thumbnail.config`: either a file
-- on package.path (also seen by worker-thread VMs) or a table the caller put
-- in package.loaded["resty.thumbnail.config"] before the first require.
local function load_config()
    local loaded = package.loaded["resty.thumbnail.config"]
    if loaded ~= nil then
        return type(loaded) == "table" and loaded or nil
    end
    local ok, cfg = pcall(require, "resty.thumbnail.config")
    if ok then
        return type(cfg) == "table" and cfg or nil
    end
    if not str_find(tostring(cfg), "module 'resty.thumbnail.config' not found", 1, true) then
        error("resty.thumbnail: error in resty.thumbnail.config: " .. tostring(cfg), 0)
    end
    return nil
end

local function load_library()
    local cfg = load_config()
    local explicit = cfg and cfg.lib_path
    local origin = "resty.thumbnail.config lib_path"
    if explicit == nil or explicit == "" then
        explicit = os.getenv("THUMBNAIL_LIB")
        origin = "THUMBNAIL_LIB"
    end
    if explicit ~= nil and explicit ~= "" then
        local ok, lib = pcall(ffi.load, explicit)
        if not ok then
            error(("resty.thumbnail: cannot load libthumbnail from %s (%s): %s")
                  :format(explicit, origin, tostring(lib)), 0)
        end
        return lib, explicit
    end

    -- As lua-resty-core's load_shared_lib does: the directory of each
    -- package.cpath entry + the library's file name (so
    -- `lua_package_cpath "/opt/thumbnail/lib/?.so;;"` finds
    -- /opt/thumbnail/lib/libthumbnail.so); then the system's library path,
    -- by SONAME first (a runtime-only install, e.g. Debian's libthumbnail1,
    -- has libthumbnail.so.N but no libthumbnail.so link).
    local tried = {}
    for entry in package.cpath:gmatch("[^;]+") do
        local dir = entry:match("^(.*/)") or "./"
        local path = dir .. "libthumbnail.so"
        local f = io.open(path, "rb")
        if f then
            f:close()
            local ok, lib = pcall(ffi.load, path)
            if ok then
                return lib, path
            end
            tried[#tried + 1] = path .. " (" .. tostring(lib) .. ")"
        else
            tried[#tried + 1] = path
        end
    end

    for _, name in ipairs { "libthumbnail.so." .. cdefs.abi_version, "libthumbnail.so" } do
        local ok, lib = pcall(ffi.load, name)
        if ok then
            return lib, name .. " (system library path)"
        end
        tried[#tried + 1] = name .. " in the system library path (" .. tostring(lib) .. ")"
    end
    error("resty.thumbnail: cannot find libthumbnail; set lua_package_cpath to "
          .. "its directory (\"/usr/local/lib/?.so;;\"), THUMBNAIL_LIB (with env "
          .. "THUMBNAIL_LIB; in nginx), or lib_path in resty.thumbnail.config. Tried: "
          .. table.concat(tried, ", "), 0)
end

local C, lib_path = load_library()

do
    local ok, abi = pcall(function() return tonumber(C.thumbnail_abi_version()) end)
    if not ok then
        error(("resty.thumbnail: %s is not libthumbnail: %s"):format(lib_path, tostring(abi)), 0)
    end
    if abi ~= cdefs.abi_version then
        error(("resty.thumbnail: ABI mismatch: %s has ABI version %d, but these "
               .. "bindings were generated for ABI version %d (include/thumbnail.h "
               .. "THUMBNAIL_ABI_VERSION); use a matching library or regenerate "
               .. "the bindings (make lua-cdefs)"):format(lib_path, abi, cdefs.abi_version), 0)
    end
end


-- Module-level reusable buffers -------------------------------------------

local ERR_LEN = 512
local err_buf = ffi_new("char[?]", ERR_LEN)
local img_out = ffi_new("thumbnail_image *[1]")
local cache_out = ffi_new("thumbnail_cache *[1]")
local source_out = ffi_new("thumbnail_cache_source[1]")
local info_out = ffi_new("thumbnail_info[1]")
local size_out = ffi_new("size_t[1]")
local limits_buf = ffi_new("thumbnail_limits[1]")
local options_buf = ffi_new("thumbnail_cache_options[1]")
local stats_buf = ffi_new("thumbnail_cache_stats[1]")
local JSON_LEN = 1024
local json_buf = ffi_new("char[?]", JSON_LEN)
-- Every canonical spec and its NUL fit (the header's
-- THUMBNAIL_SPEC_CANONICAL_MAX); a canonical spec can be longer than its
-- input ("jpg" -> "jpeg", "bg=222" -> "bg=222222").
local SPEC_LEN = cdefs.spec_canonical_max
local spec_buf = ffi_new("char[?]", SPEC_LEN)

local DEFAULT_LIMITS = C.thumbnail_limits_default()
local DEFAULT_OPTIONS = C.thumbnail_cache_options_default()

local STATUS_OK = C.THUMBNAIL_STATUS_OK
local STATUS_INVALID_ARGUMENT = C.THUMBNAIL_STATUS_INVALID_ARGUMENT
local STATUS_NOT_FOUND = C.THUMBNAIL_STATUS_NOT_FOUND
local STATUS_BUFFER_TOO_SMALL = C.THUMBNAIL_STATUS_BUFFER_TOO_SMALL

local FORMAT_NAMES = {
    [tonumber(C.THUMBNAIL_FORMAT_JPEG)] = "jpeg",
    [tonumber(C.THUMBNAIL_FORMAT_PNG)] = "png",
    [tonumber(C.THUMBNAIL_FORMAT_WEBP)] = "webp",
    [tonumber(C.THUMBNAIL_FORMAT_GIF)] = "gif",
    [tonumber(C.THUMBNAIL_FORMAT_AVIF)] = "avif",
}
local FORMAT_NUMBERS = {}
for n, name in pairs(FORMAT_NAMES) do
    FORMAT_NUMBERS[name] = n
end
local MEDIA_TYPES = {
    jpeg = "image/jpeg", png = "image/png", webp = "image/webp", gif = "image/gif", avif = "image/avif",
}
local varies_out = ffi_new("bool[1]")
local CACHE_SOURCES = {
    [tonumber(C.THUMBNAIL_CACHE_SOURCE_HIT)] = "hit",
    [tonumber(C.THUMBNAIL_CACHE_SOURCE_RENDERED)] = "rendered",
    [tonumber(C.THUMBNAIL_CACHE_SOURCE_DEDUPED)] = "deduped",
}

-- The counters of thumbnail_cache_stats, in declaration order, read from the
-- generated cdefs so a field added to the header shows up here too.
local STATS_FIELDS = {}
do
    local body = cdefs.cdef:match("typedef struct thumbnail_cache_stats {(.-)}")
    for name in body:gmatch("uint64_t%s+([%w_]+);") do
        STATS_FIELDS[#STATS_FIELDS + 1] = name
    end
end


local _M = {
    _VERSION = cdefs.version,
    -- The ABI these bindings were generated for (== the library's).
    abi_version = cdefs.abi_version,
    -- A buffer this size holds every canonical spec and its NUL.
    spec_canonical_max = cdefs.spec_canonical_max,
    -- The library's own version string and where it was loaded from.
    library_version = ffi_str(C.thumbnail_version()),
    library_path = lib_path,
    cache = {},
    overlay = {},
    signer = {},
}


-- Helpers -----------------------------------------------------------------

-- The error message of the last failed call that took err_buf.
local function last_error(rc)
    if err_buf[0] == 0 then
        return ffi_str(C.thumbnail_status_name(rc)) .. ": call failed"
    end
    return ffi_str(err_buf)
end

local function status_error(rc, reason)
    return ffi_str(C.thumbnail_status_name(rc)) .. ": " .. reason
end

local function bad_arg(reason)
    return "invalid-argument: " .. reason
end

-- Copies the image's bytes into a Lua string and frees the image at once.
local function take_image(img)
    local data = ffi_str(C.thumbnail_image_data(img), C.thumbnail_image_len(img))
    local format = FORMAT_NAMES[tonumber(C.thumbnail_image_format(img))] or "unknown"
    local info = {
        width = tonumber(C.thumbnail_image_width(img)),
        height = tonumber(C.thumbnail_image_height(img)),
        media_type = MEDIA_TYPES[format] or ffi_str(C.thumbnail_image_media_type(img)),
        format = format,
    }
    C.thumbnail_image_free(img)
    return data, info
end

-- Limit name -> largest accepted value.
local LIMITS = {
    max_source_bytes = 2 ^ 53,
    max_source_pixels = 2 ^ 53,
    max_output_width = 2 ^ 32 - 1,
    max_output_height = 2 ^ 32 - 1,
    max_output_bytes = 2 ^ 53,  -- 0: no limit
    max_frames = 2 ^ 32 - 1,
    max_animation_pixels = 2 ^ 53,
    avif_max_pixels = 2 ^ 53,
    avif_speed = 10,
}

-- Fills limits_buf from a Lua table (defaults for absent fields); returns
-- the pointer to pass (nil for the defaults) or nil, err.
local function make_limits(t)
    if t == nil then
        return nil
    end
    if type(t) ~= "table" then
        return nil, bad_arg("limits must be a table")
    end
    local l = limits_buf[0]
    l.max_source_bytes = DEFAULT_LIMITS.max_source_bytes
    l.max_source_pixels = DEFAULT_LIMITS.max_source_pixels
    l.max_output_width = DEFAULT_LIMITS.max_output_width
    l.max_output_height = DEFAULT_LIMITS.max_output_height
    l.strict = DEFAULT_LIMITS.strict
    l.max_output_bytes = DEFAULT_LIMITS.max_output_bytes
    l.max_frames = DEFAULT_LIMITS.max_frames
    l.max_animation_pixels = DEFAULT_LIMITS.max_animation_pixels
    l.avif_max_pixels = DEFAULT_LIMITS.avif_max_pixels
    l.avif_speed = DEFAULT_LIMITS.avif_speed
    for k, v in pairs(t) do
        local max = LIMITS[k]
        if k == "strict" then
            if type(v) ~= "boolean" then
                return nil, bad_arg("limits.strict must be a boolean")
            end
            max = true
        end
        if not max then
            return nil, bad_arg("unknown limit " .. tostring(k))
        end
        if max ~= true and (type(v) ~= "number" or v < 0 or v > max or v % 1 ~= 0) then
            return nil, bad_arg(("limits.%s must be an integer in 0..%.0f"):format(k, max))
        end
        if k == "strict" then
            v = v and 1 or 0
        end
        l[k] = v
    end
    return limits_buf
end

-- Returns the default limits as a table.
function _M.limits_default()
    return {
        max_source_bytes = tonumber(DEFAULT_LIMITS.max_source_bytes),
        max_source_pixels = tonumber(DEFAULT_LIMITS.max_source_pixels),
        max_output_width = tonumber(DEFAULT_LIMITS.max_output_width),
        max_output_height = tonumber(DEFAULT_LIMITS.max_output_height),
        strict = DEFAULT_LIMITS.strict ~= 0,
        max_output_bytes = tonumber(DEFAULT_LIMITS.max_output_bytes),
        max_frames = tonumber(DEFAULT_LIMITS.max_frames),
        max_animation_pixels = tonumber(DEFAULT_LIMITS.max_animation_pixels),
        avif_max_pixels = tonumber(DEFAULT_LIMITS.avif_max_pixels),
        avif_speed = tonumber(DEFAULT_LIMITS.avif_speed),
    }
end


-- Rendering ---------------------------------------------------------------

-- render(source, spec [, limits [, overlay]]) -> data, info | nil, err
-- info = { width, height, media_type, format ("jpeg"/"png"/"webp"/"avif") }.
-- overlay: a watermark from overlay.new() (see there).
-- Blocks the calling thread for the whole decode/resize/encode (tens to
-- hundreds of ms for large photos); see render_in_thread().
function _M.render(src, spec, limits, overlay)
    if type(src) ~= "string" then
        return nil, bad_arg("source must be a string")
    end
    if type(spec) ~= "string" then
        return nil, bad_arg("spec must be a string")
    end
    local lim, err = make_limits(limits)
    if err then
        return nil, err
    end
    err_buf[0] = 0
    local rc
    if overlay ~= nil then
        local opts
        opts, err = _M._render_options(lim, overlay)
        if not opts then
            return nil, err
        end
        rc = C.thumbnail_render_ex(src, #src, spec, #spec, opts, img_out, err_buf, ERR_LEN)
    else
        rc = C.thumbnail_render(src, #src, spec, #spec, lim, img_out, err_buf, ERR_LEN)
    end
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    return take_image(img_out[0])
end

-- probe(source) -> info | nil, err
-- info = { width, height, format, media_type, orientation, has_alpha, progressive }; the
-- size is as stored, before EXIF orientation.
function _M.probe(src)
    if type(src) ~= "string" then
        return nil, bad_arg("source must be a string")
    end
    err_buf[0] = 0
    local rc = C.thumbnail_probe(src, #src, info_out, err_buf, ERR_LEN)
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    local i = info_out[0]
    local format = FORMAT_NAMES[tonumber(i.format)] or "unknown"
    return {
        width = tonumber(i.width),
        height = tonumber(i.height),
        format = format,
        media_type = MEDIA_TYPES[format],
        orientation = tonumber(i.orientation),
        has_alpha = i.has_alpha,
        progressive = i.progressive,
    }
end

-- canonical(spec) -> string | nil, err
function _M.canonical(spec)
    if type(spec) ~= "string" then
        return nil, bad_arg("spec must be a string")
    end
    err_buf[0] = 0
    local rc = C.thumbnail_spec_canonical(spec, #spec, spec_buf, SPEC_LEN, size_out, err_buf, ERR_LEN)
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    return ffi_str(spec_buf, size_out[0])
end

-- negotiate(accept [, source_format [, avif]]) -> "avif" | "webp" | source_format
-- Reduces an Accept header to the format the spec's `auto` writes for it
-- (see thumbnail_negotiate in thumbnail.h): "avif" only when avif is true
-- (and the library has AVIF), "webp", else source_format (default
-- "source"). Put the result, never the raw header, in a cache key.
function _M.negotiate(accept, source, avif)
    if accept ~= nil and type(accept) ~= "string" then
        return nil, bad_arg("accept must be a string or nil")
    end
    source = source or "source"
    accept = accept or ""
    local n = C.thumbnail_negotiate(accept, #accept, C.THUMBNAIL_FORMAT_UNKNOWN, avif and true or false)
    return FORMAT_NAMES[tonumber(n)] or source
end

-- negotiate_spec(spec, accept [, avif]) -> canonical, varies | nil, err
-- The spec with `auto` resolved for this Accept header ("200x200,auto"
-- becomes "200x200,auto=webp", "...,auto=avif" or stays "...,auto"): the
-- spec to render and to put in the cache key. varies is true when the spec
-- says auto, i.e. the response needs `Vary: Accept`.
function _M.negotiate_spec(spec, accept, avif)
    if type(spec) ~= "string" then
        return nil, bad_arg("spec must be a string")
    end
    if accept ~= nil and type(accept) ~= "string" then
        return nil, bad_arg("accept must be a string or nil")
    end
    accept = accept or ""
    err_buf[0] = 0
    local rc = C.thumbnail_spec_negotiate(spec, #spec, accept, #accept, avif and true or false,
        spec_buf, SPEC_LEN, size_out, varies_out, err_buf, ERR_LEN)
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    return ffi_str(spec_buf, size_out[0]), varies_out[0]
end

-- Whether the library was built with AVIF output (the `avif` feature).
function _M.avif_available()
    return C.thumbnail_avif_available()
end

-- Maps an error message to an HTTP status by its `name:` prefix, through the
-- library's one mapping (thumbnail_status_http); 500 for anything else.
local STATUS_BY_NAME = {}
for n = 0, 63 do
    local name = ffi_str(C.thumbnail_status_name(n))
    if name ~= "unknown" then
        STATUS_BY_NAME[name] = n
    end
end

function _M.http_status(err)
    if type(err) ~= "string" then
        return 500
    end
    local colon = str_find(err, ":", 1, true)
    local status = STATUS_BY_NAME[colon and str_sub(err, 1, colon - 1) or err]
    if not status or status == 0 then
        return 500
    end
    return tonumber(C.thumbnail_status_http(status))
end


-- Worker threads ------------------------------------------------------------

-- The function ngx.run_worker_thread() calls in a worker thread: only plain
-- values cross the VM boundary. Returns data, width, height, media_type,
-- format, or nil, err.
function _M.render_for_thread(src, spec, limits)
    local data, info = _M.render(src, spec, limits)
    if not data then
        return nil, info
    end
    return data, info.width, info.height, info.media_type, info.format
end

-- render_in_thread(pool, source, spec [, limits]) -> data, info | nil, err
-- Like render(), but runs in a thread of the nginx thread pool `pool`
-- (`thread_pool` directive) so the event loop is not blocked; the calling
-- request's coroutine yields until the render is done. OpenResty only
-- (rewrite/access/content phases).
function _M.render_in_thread(pool, src, spec, limits)
    local ngx = ngx -- luacheck: ignore (the OpenResty global, nil elsewhere)
    local run = ngx and ngx.run_worker_thread
    if not run then
        return nil, "internal: ngx.run_worker_thread is not available (needs nginx with a recent lua-nginx-module)"
    end
    if type(pool) ~= "string" then
        return nil, bad_arg("pool must be a string")
    end
    if type(src) ~= "string" then
        return nil, bad_arg("source must be a string")
    end
    if type(spec) ~= "string" then
        return nil, bad_arg("spec must be a string")
    end
    if limits ~= nil and type(limits) ~= "table" then
        return nil, bad_arg("limits must be a table")
    end
    local ok, data, w, h, media_type, format
    if limits == nil then
        ok, data, w, h, media_type, format =
            run(pool, "resty.thumbnail", "render_for_thread", src, spec)
    else
        ok, data, w, h, media_type, format =
            run(pool, "resty.thumbnail", "render_for_thread", src, spec, limits)
    end
    if not ok then
        return nil, "internal: worker thread: " .. tostring(data)
    end
    if not data then
        return nil, w
    end
    return data, { width = w, height = h, media_type = media_type, format = format }
end


-- Cache ---------------------------------------------------------------------

local cache_methods = {}
local cache_mt = { __index = cache_methods }

local function nonneg_number(opts, k, max)
    local v = opts[k]
    if type(v) ~= "number" or v < 0 or v > max or v ~= v then
        return nil, bad_arg(("cache option %s must be a number in 0..%.0f"):format(k, max))
    end
    return v
end

local CACHE_OPTIONS = { size = true, shards = true, ttl = true, error_ttl = true }

-- cache.new{ size = bytes, shards = n, ttl = seconds, error_ttl = seconds }
--   -> cache | nil, err
-- Defaults: 64 MiB, 16 shards, no ttl, errors not remembered. The cache is
-- freed by the garbage collector, or at once by cache:close().
function _M.cache.new(opts)
    if opts == nil then
        opts = {}
    elseif type(opts) ~= "table" then
        return nil, bad_arg("cache options must be a table")
    end
    for k in pairs(opts) do
        if not CACHE_OPTIONS[k] then
            return nil, bad_arg("unknown cache option " .. tostring(k))
        end
    end
    local o = options_buf[0]
    o.capacity_bytes = DEFAULT_OPTIONS.capacity_bytes
    o.ttl_ms = DEFAULT_OPTIONS.ttl_ms
    o.error_ttl_ms = DEFAULT_OPTIONS.error_ttl_ms
    o.shards = DEFAULT_OPTIONS.shards
    local v, err
    if opts.size ~= nil then
        v, err = nonneg_number(opts, "size", 2 ^ 53)
        if not v then return nil, err end
        o.capacity_bytes = floor(v)
    end
    if opts.shards ~= nil then
        v, err = nonneg_number(opts, "shards", 1024)
        if not v then return nil, err end
        if v < 1 or v % 1 ~= 0 then
            return nil, bad_arg("cache option shards must be an integer in 1..1024")
        end
        o.shards = v
    end
    if opts.ttl ~= nil then
        v, err = nonneg_number(opts, "ttl", 2 ^ 43)
        if not v then return nil, err end
        o.ttl_ms = floor(v * 1000 + 0.5)
    end
    if opts.error_ttl ~= nil then
        v, err = nonneg_number(opts, "error_ttl", 2 ^ 43)
        if not v then return nil, err end
        o.error_ttl_ms = floor(v * 1000 + 0.5)
    end
    err_buf[0] = 0
    local rc = C.thumbnail_cache_new(options_buf, cache_out, err_buf, ERR_LEN)
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    local handle = ffi_gc(cache_out[0], C.thumbnail_cache_free)
    cache_out[0] = nil
    return setmetatable({ handle = handle }, cache_mt)
end

local CLOSED = "invalid-argument: cache is closed"

local function check_key(self, key)
    local h = self.handle
    if not h then
        return nil, CLOSED
    end
    if type(key) ~= "string" then
        return nil, bad_arg("key must be a string")
    end
    return h
end

-- cache:get(key) -> data, info | nil (miss) | nil, err
-- info has the fields of render()'s plus cache = "hit".
function cache_methods.get(self, key)
    local h, err = check_key(self, key)
    if not h then
        return nil, err
    end
    local rc = C.thumbnail_cache_get(h, key, #key, img_out)
    if rc == STATUS_OK then
        local data, info = take_image(img_out[0])
        info.cache = "hit"
        return data, info
    end
    if rc == STATUS_NOT_FOUND then
        return nil
    end
    if rc == STATUS_INVALID_ARGUMENT then
        return nil, status_error(rc, "cache key is not valid UTF-8")
    end
    return nil, status_error(rc, "cache lookup failed")
end

-- cache:get_or_render(key, source_or_loader, spec [, limits [, overlay]])
--   -> data, info | nil, err
-- info has the fields of render()'s plus cache = "hit", "rendered" or
-- "deduped". source_or_loader is the source string, or a function returning
-- the source string (or nil, err) that is called only on a miss; it may
-- yield (cosockets, ngx.location.capture...). Its failure gives
-- "load-failed: <err>". With an overlay, the key must name it too (append
-- overlay:id()): the cache does not look at the overlay.
function cache_methods.get_or_render(self, key, src, spec, limits, overlay)
    local h, err = check_key(self, key)
    if not h then
        return nil, err
    end
    if type(spec) ~= "string" then
        return nil, bad_arg("spec must be a string")
    end
    if limits ~= nil and type(limits) ~= "table" then
        return nil, bad_arg("limits must be a table")
    end

    local after_miss = false
    if type(src) == "function" then
        -- The loader runs in Lua, between a lookup and the render: a Lua
        -- function called back from C (thumbnail_cache_get_or_load) could
        -- not yield, so could not do non-blocking I/O. As with a string
        -- source, an invalid spec is an error even on a hit.
        local ok, spec_err = _M.canonical(spec)
        if not ok then
            return nil, spec_err
        end
        local data, info = cache_methods.get(self, key)
        if data or info then
            return data, info
        end
        local loaded, load_err = src()
        if type(loaded) ~= "string" then
            if loaded ~= nil then
                load_err = "loader returned a " .. type(loaded) .. ", not a string"
            end
            return nil, "load-failed: " .. tostring(load_err or "loader returned nil")
        end
        -- the loader may have yielded: look at the handle again
        h = self.handle
        if not h then
            return nil, CLOSED
        end
        src = loaded
        -- the get above counted this lookup's miss: count it once
        after_miss = true
    elseif type(src) ~= "string" then
        return nil, bad_arg("source must be a string or a function")
    end

    local lim
    lim, err = make_limits(limits)
    if err then
        return nil, err
    end
    err_buf[0] = 0
    local rc
    if after_miss or overlay ~= nil then
        local opts
        opts, err = _M._render_options(lim, overlay)
        if not opts then
            return nil, err
        end
        local render = after_miss and C.thumbnail_cache_get_or_render_after_miss
            or C.thumbnail_cache_get_or_render_ex
        rc = render(h, key, #key, src, #src, spec, #spec, opts, img_out, source_out, err_buf, ERR_LEN)
    else
        rc = C.thumbnail_cache_get_or_render(h, key, #key, src, #src, spec, #spec, lim,
                                             img_out, source_out, err_buf, ERR_LEN)
    end
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    local how = CACHE_SOURCES[tonumber(source_out[0])]
    local data, info = take_image(img_out[0])
    info.cache = how
    return data, info
end

-- cache:remove(key) -> true (removed) | false (absent) | nil, err
function cache_methods.remove(self, key)
    local h, err = check_key(self, key)
    if not h then
        return nil, err
    end
    local rc = C.thumbnail_cache_remove(h, key, #key)
    if rc == STATUS_OK then
        return true
    end
    if rc == STATUS_NOT_FOUND then
        return false
    end
    if rc == STATUS_INVALID_ARGUMENT then
        return nil, status_error(rc, "cache key is not valid UTF-8")
    end
    return nil, status_error(rc, "cache remove failed")
end

-- cache:clear() -> true | nil, err (counters are kept)
function cache_methods.clear(self)
    local h = self.handle
    if not h then
        return nil, CLOSED
    end
    local rc = C.thumbnail_cache_clear(h)
    if rc ~= STATUS_OK then
        return nil, status_error(rc, "cache clear failed")
    end
    return true
end

-- cache:stats() -> table | nil, err
-- Fields named as in groupcache: gets, hits, misses, loads, loads_deduped,
-- local_loads, local_load_errors, evictions, expirations, oversize_rejects,
-- error_hits, bytes, items, capacity_bytes, shards.
function cache_methods.stats(self)
    local h = self.handle
    if not h then
        return nil, CLOSED
    end
    local rc = C.thumbnail_cache_get_stats(h, stats_buf)
    if rc ~= STATUS_OK then
        return nil, status_error(rc, "cache stats failed")
    end
    local s = stats_buf[0]
    local t = {}
    for i = 1, #STATS_FIELDS do
        local name = STATS_FIELDS[i]
        t[name] = tonumber(s[name])
    end
    return t
end

-- cache:stats_json() -> string | nil, err (one line of JSON)
function cache_methods.stats_json(self)
    local h = self.handle
    if not h then
        return nil, CLOSED
    end
    local rc = C.thumbnail_cache_stats_json(h, json_buf, JSON_LEN, size_out)
    if rc == STATUS_BUFFER_TOO_SMALL then
        local need = tonumber(size_out[0]) + 1
        local buf = ffi_new("char[?]", need)
        rc = C.thumbnail_cache_stats_json(h, buf, need, size_out)
        if rc == STATUS_OK then
            return ffi_str(buf, size_out[0])
        end
    end
    if rc ~= STATUS_OK then
        return nil, status_error(rc, "cache stats failed")
    end
    return ffi_str(json_buf, size_out[0])
end

-- cache:close() -> true. Frees the cache now (the bytes already returned are
-- Lua strings and stay valid); later calls return nil, "invalid-argument:
-- cache is closed". Closing twice is allowed.
function cache_methods.close(self)
    local h = self.handle
    if h then
        self.handle = nil
        ffi_gc(h, nil)
        C.thumbnail_cache_free(h)
    end
    return true
end

cache_mt.__tostring = function(self)
    return self.handle and "thumbnail.cache" or "thumbnail.cache (closed)"
end


-- Watermark overlays ----------------------------------------------------------

local overlay_methods = {}
local overlay_mt = { __index = overlay_methods }
local overlay_out = ffi_new("thumbnail_overlay *[1]")
local render_options_buf = ffi_new("thumbnail_render_options[1]")

-- overlay.new(image, options) -> overlay | nil, err
-- image: the overlay's bytes (a PNG with alpha, typically); options: the
-- nginx directive's syntax, e.g. "gravity=southeast margin=8 opacity=0.6
-- scale=0.2 apply=always" (every option optional). Decoded once: make it at
-- startup (init_by_lua / init_worker_by_lua) and pass it to render() and
-- cache:get_or_render(). Freed by the garbage collector or overlay:close().
function _M.overlay.new(image, options)
    if type(image) ~= "string" then
        return nil, bad_arg("overlay image must be a string")
    end
    options = options or ""
    if type(options) ~= "string" then
        return nil, bad_arg("overlay options must be a string")
    end
    err_buf[0] = 0
    local rc = C.thumbnail_overlay_new(image, #image, options, #options, overlay_out, err_buf, ERR_LEN)
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    local handle = ffi_gc(overlay_out[0], C.thumbnail_overlay_free)
    overlay_out[0] = nil
    return setmetatable({ handle = handle, _id = ffi_str(C.thumbnail_overlay_id(handle)) }, overlay_mt)
end

-- overlay:id() -> 16 hex digits naming the image and options (for cache keys)
function overlay_methods.id(self)
    return self._id
end

-- overlay:close() -> true (later renders with it fail with invalid-argument)
function overlay_methods.close(self)
    local h = self.handle
    if h then
        self.handle = nil
        ffi_gc(h, nil)
        C.thumbnail_overlay_free(h)
    end
    return true
end

-- Fills the module's render options with limits and an overlay (or none);
-- returns the pointer to pass or nil, err.
function _M._render_options(lim, overlay)
    if overlay == nil then
        local o = render_options_buf[0]
        o.size = ffi.sizeof("thumbnail_render_options")
        o.limits = lim
        o.overlay = nil
        return render_options_buf
    end
    if getmetatable(overlay) ~= overlay_mt then
        return nil, bad_arg("overlay must come from thumbnail.overlay.new()")
    end
    if not overlay.handle then
        return nil, bad_arg("overlay is closed")
    end
    local o = render_options_buf[0]
    o.size = ffi.sizeof("thumbnail_render_options")
    o.limits = lim
    o.overlay = overlay.handle
    return render_options_buf
end


-- Signed URLs -------------------------------------------------------------------

local signer_methods = {}
local signer_mt = { __index = signer_methods }
local signer_out = ffi_new("thumbnail_signer *[1]")
local SIG_LEN = 64
local sig_buf = ffi_new("char[?]", SIG_LEN)

-- signer.new{ { key = HEX, salt = HEX }, ... [, size = N] } -> signer | nil, err
-- imgproxy's scheme: unpadded base64url of HMAC-SHA256(key, salt .. path),
-- truncated to size bytes (1..32, default 32). sign() uses the first pair;
-- verify() accepts any (key rotation).
function _M.signer.new(opts)
    if type(opts) ~= "table" then
        return nil, bad_arg("signer options must be a table")
    end
    local n = #opts
    local size = opts.size or 0
    if type(size) ~= "number" or size < 0 or size > 32 or size % 1 ~= 0 then
        return nil, bad_arg("size must be an integer in 0..32")
    end
    -- The key strings stay referenced by opts during the call; the library
    -- copies them.
    local keys = ffi_new("thumbnail_sign_key[?]", n > 0 and n or 1)
    for i = 1, n do
        local pair = opts[i]
        if type(pair) ~= "table" or type(pair.key) ~= "string" or type(pair.salt) ~= "string" then
            return nil, bad_arg("each key must be a table { key = HEX, salt = HEX }")
        end
        local k = keys[i - 1]
        k.key_hex, k.key_hex_len = pair.key, #pair.key
        k.salt_hex, k.salt_hex_len = pair.salt, #pair.salt
    end
    err_buf[0] = 0
    local rc = C.thumbnail_signer_new(keys, n, size, signer_out, err_buf, ERR_LEN)
    if rc ~= STATUS_OK then
        return nil, last_error(rc)
    end
    local handle = ffi_gc(signer_out[0], C.thumbnail_signer_free)
    signer_out[0] = nil
    return setmetatable({ handle = handle }, signer_mt)
end

-- signer:sign(path) -> signature | nil, err
function signer_methods.sign(self, path)
    if not self.handle then
        return nil, bad_arg("signer is closed")
    end
    if type(path) ~= "string" then
        return nil, bad_arg("path must be a string")
    end
    local rc = C.thumbnail_signer_sign(self.handle, path, #path, sig_buf, SIG_LEN, size_out, nil, 0)
    if rc ~= STATUS_OK then
        return nil, status_error(rc, "sign failed")
    end
    return ffi_str(sig_buf, size_out[0])
end

-- signer:verify(path, sig [, now]) -> boolean
-- Constant-time; an exp=UNIX token in path must not be past (now: UNIX
-- seconds, default the system clock; pass ngx.time() under nginx).
function signer_methods.verify(self, path, sig, now)
    if not self.handle or type(path) ~= "string" or type(sig) ~= "string" then
        return false
    end
    if now == nil then
        return C.thumbnail_signer_verify(self.handle, path, #path, sig, #sig)
    end
    if type(now) ~= "number" or now < 0 then
        return false
    end
    return C.thumbnail_signer_verify_at(self.handle, path, #path, sig, #sig, floor(now))
end

-- signer:close() -> true
function signer_methods.close(self)
    local h = self.handle
    if h then
        self.handle = nil
        ffi_gc(h, nil)
        C.thumbnail_signer_free(h)
    end
    return true
end

-- Node-wide cache -----------------------------------------------------------

-- shared.new{ dict = "name", ... }: a cache on a lua_shared_dict, one render
-- and one stored copy per key for all workers (resty/thumbnail/shared.lua,
-- loaded on first use: it needs the nginx API).
_M.shared = {
    new = function(opts)
        return require("resty.thumbnail.shared").new(opts)
    end,
}


return _M
