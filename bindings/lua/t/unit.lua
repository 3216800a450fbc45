-- Unit tests of resty.thumbnail against the real libthumbnail, run by
-- t/run.lua with standalone LuaJIT (no nginx): `luajit bindings/lua/t/run.lua`.

local T = ...
local thumbnail = require "resty.thumbnail"
local cdefs = require "resty.thumbnail.cdefs"

local KODAK = "photos/kodak/kodim01.png" -- 768x512
local PNG_SIG = "\137PNG\r\n\26\n"
local JPEG_SOI = "\255\216\255"

local kodak_src
local function kodak()
    kodak_src = kodak_src or T.corpus_file(KODAK)
    return kodak_src
end

local function first_file(dir, suffix)
    local h = io.popen("ls '" .. dir .. "'")
    for name in h:lines() do
        if name:sub(-#suffix) == suffix then
            h:close()
            return dir .. "/" .. name
        end
    end
    h:close()
    error("no *" .. suffix .. " in " .. dir)
end

local function luajit_bin()
    local i = -1
    while arg[i - 1] do
        i = i - 1
    end
    return arg[i] or "luajit"
end

local function shell_quote(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Requires resty.thumbnail afresh with `config` as resty.thumbnail.config;
-- restores the loaded module afterwards. Returns pcall's results.
local function reload_with(config)
    local saved_mod = package.loaded["resty.thumbnail"]
    local saved_cfg = package.loaded["resty.thumbnail.config"]
    package.loaded["resty.thumbnail"] = nil
    package.loaded["resty.thumbnail.config"] = config
    local ok, res = pcall(require, "resty.thumbnail")
    package.loaded["resty.thumbnail"] = saved_mod
    package.loaded["resty.thumbnail.config"] = saved_cfg
    return ok, res
end

local PAGE_SIZE
local function rss_bytes()
    if not PAGE_SIZE then
        local h = io.popen("getconf PAGESIZE 2>/dev/null")
        PAGE_SIZE = tonumber(h and h:read("*l")) or 4096
        if h then h:close() end
    end
    local statm = T.read("/proc/self/statm")
    local resident = tonumber(statm:match("^%d+%s+(%d+)"))
    return resident * PAGE_SIZE
end

-- glibc's malloc_trim() returns freed heap pages to the system, so RSS
-- follows what is really in use; nil elsewhere.
local malloc_trim
do
    local ffi = require "ffi"
    if pcall(ffi.cdef, "int malloc_trim(size_t pad);") then
        local ok, f = pcall(function() return ffi.C.malloc_trim end)
        malloc_trim = ok and f or nil
    end
end

local tests = {}
local function test(name, fn)
    tests[#tests + 1] = { name, fn }
end


test("cdefs.lua is what gen_cdefs.lua makes from include/thumbnail.h", function()
    local gen = dofile(T.lua_dir .. "/gen_cdefs.lua")
    local want = gen.generate(T.read(T.root .. "/include/thumbnail.h"))
    local have = T.read(T.lua_dir .. "/lib/resty/thumbnail/cdefs.lua")
    if want ~= have then
        error("bindings/lua/lib/resty/thumbnail/cdefs.lua is out of date: run `make lua-cdefs`")
    end
end)

test("gen_cdefs.lua follows header changes and rejects unknown forms", function()
    local gen = dofile(T.lua_dir .. "/gen_cdefs.lua")
    local header = T.read(T.root .. "/include/thumbnail.h")
    local base = gen.generate(header)
    local added = header:gsub("#ifdef __cplusplus\n}", "int thumbnail_new_function(void);\n%0", 1)
    local changed = gen.generate(added)
    T.ok(changed ~= base, "an added prototype changes the output")
    T.ok(changed:find("int thumbnail_new_function(void);", 1, true), "the prototype is in the output")
    local bumped = gen.generate((header:gsub("THUMBNAIL_ABI_VERSION 1", "THUMBNAIL_ABI_VERSION 7")))
    T.ok(bumped:find("abi_version = 7,", 1, true), "abi_version follows the header")
    local ok, err = pcall(gen.generate, header .. "\n#pragma once\n")
    T.eq(ok, false, "unknown directive")
    T.match(err, "unsupported directive #pragma", "unknown directive error")
    ok, err = pcall(gen.generate, header .. "\n#if SOMETHING_NEW\n#endif\n")
    T.eq(ok, false, "unknown macro in #if")
    T.match(err, "unknown macro SOMETHING_NEW", "unknown macro error")
    -- the output has no comments, preprocessor lines or extern "C"
    local cdef = gen.extract(header)
    T.ok(not cdef:find("/*", 1, true) and not cdef:find("//", 1, true), "no comments")
    T.ok(not cdef:find("\n%s*#"), "no preprocessor lines")
    T.ok(not cdef:find("extern", 1, true), "no extern \"C\"")
end)

test("the library's ABI and version match the header", function()
    local header = T.read(T.root .. "/include/thumbnail.h")
    T.eq(thumbnail.abi_version, tonumber(header:match("#define THUMBNAIL_ABI_VERSION (%d+)")), "abi_version")
    T.eq(thumbnail.library_version, cdefs.version, "library_version")
    T.eq(thumbnail._VERSION, header:match('#define THUMBNAIL_VERSION "([^"]+)"'), "_VERSION")
    T.ok(thumbnail.library_path, "library_path")
end)

test("render kodim01.png 200x200 keeps the source format (PNG) at 200x133", function()
    local data, info = thumbnail.render(kodak(), "200x200")
    T.ok(data, "render: " .. tostring(info))
    T.eq(info.width, 200, "width")
    T.eq(info.height, 133, "height")
    T.eq(info.format, "png", "format")
    T.eq(info.media_type, "image/png", "media_type")
    T.eq(data:sub(1, 8), PNG_SIG, "PNG signature")
    local p = T.ok(thumbnail.probe(data), "probe")
    T.eq(p.width, 200, "probed width")
    T.eq(p.height, 133, "probed height")
end)

test("render kodim01.png 200x200,jpeg gives a 200x133 JPEG", function()
    local data, info = thumbnail.render(kodak(), "200x200,jpeg")
    T.ok(data, "render: " .. tostring(info))
    T.eq(info.width, 200, "width")
    T.eq(info.height, 133, "height")
    T.eq(info.format, "jpeg", "format")
    T.eq(info.media_type, "image/jpeg", "media_type")
    T.eq(data:sub(1, 3), JPEG_SOI, "JPEG SOI")
    local p, err = thumbnail.probe(data)
    T.ok(p, "probe: " .. tostring(err))
    T.eq(p.format, "jpeg", "probed format")
    T.eq(p.width, 200, "probed width")
    T.eq(p.height, 133, "probed height")
end)

test("probe reads the source header", function()
    local p, err = thumbnail.probe(kodak())
    T.ok(p, "probe: " .. tostring(err))
    T.eq(p.width, 768, "width")
    T.eq(p.height, 512, "height")
    T.eq(p.format, "png", "format")
    T.eq(p.media_type, "image/png", "media_type")
    T.eq(p.orientation, 1, "orientation")
    T.eq(p.has_alpha, false, "has_alpha")
    local none, perr = thumbnail.probe("not an image")
    T.eq(none, nil, "probe of text")
    T.match(perr, "^unsupported: ", "probe error")
end)

test("invalid spec gives nil, invalid-spec: ...", function()
    local data, err = thumbnail.render(kodak(), "200xabc")
    T.eq(data, nil, "data")
    T.match(err, "^invalid%-spec: .", "err")
    data, err = thumbnail.render(kodak(), "")
    T.eq(data, nil, "data for the empty spec")
    T.match(err, "^invalid%-spec: ", "err for the empty spec")
end)

test("GIF renders its first frame (PNG by default), WebP in and out", function()
    local gif = T.read(T.corpus .. "/edge/gif/hat.gif") -- 90x112
    local data, info = thumbnail.render(gif, "45x")
    T.ok(data, "GIF renders: " .. tostring(info))
    T.eq(info.format, "png", "a GIF source gives PNG")
    T.eq(info.width .. "x" .. info.height, "45x56", "size")
    data, info = thumbnail.render(gif, "45x,webp")
    T.eq(info.media_type, "image/webp", "webp media type")
    T.eq(data:sub(1, 4) .. data:sub(9, 12), "RIFFWEBP", "WebP bytes")
    local p = thumbnail.probe(data)
    T.eq(p.format, "webp", "probe of the WebP output")
    T.eq(thumbnail.probe(gif).format, "gif", "probe of a GIF")
end)

test("negotiation: buckets, specs and Vary", function()
    T.eq(thumbnail.negotiate("image/avif,image/webp,*/*", "jpeg", false), "webp", "webp")
    T.eq(thumbnail.negotiate("image/webp;q=0,*/*", "jpeg"), "jpeg", "q=0 falls back to the source")
    T.eq(thumbnail.negotiate(nil), "source", "no header")
    local spec, varies = thumbnail.negotiate_spec("200x200,q80,auto", "image/webp")
    T.eq(spec, "200x200,auto=webp", "negotiated spec")
    T.eq(varies, true, "auto varies")
    spec, varies = thumbnail.negotiate_spec("200x200,webp", "*/*")
    T.eq(spec .. tostring(varies), "200x200,webpfalse", "explicit format does not vary")
    local _, err = thumbnail.negotiate_spec("200x200,auto,webp", "")
    T.match(err, "^invalid%-spec: format given more than once", "bad spec")
    T.eq(type(thumbnail.avif_available()), "boolean", "avif_available")
    T.eq(thumbnail.canonical("1x1,bg=000"), "1x1,bg=000000", "canonical longer than its input")
end)

test("decompression bomb giant-image.jpg gives too-large", function()
    local data, err = thumbnail.render(T.corpus_file("corrupt/bombs/giant-image.jpg"), "200x200")
    T.eq(data, nil, "data")
    T.match(err, "^too%-large: ", "err")
    T.eq(thumbnail.http_status(err), 413, "http_status")
end)

test("corrupt and empty sources", function()
    local data, err = thumbnail.render(T.corpus_file("corrupt/jpeg/missing-sos.jpg"), "100x100")
    T.eq(data, nil, "data")
    T.match(err, "^corrupt: ", "err")
    data, err = thumbnail.render("", "100x100")
    T.eq(data, nil, "data for empty")
    T.match(err, "^unsupported: ", "err for empty")
end)

test("limits table", function()
    local data, err = thumbnail.render(kodak(), "200x200", { max_output_width = 100 })
    T.eq(data, nil, "data")
    T.match(err, "^too%-large: ", "max_output_width")
    data, err = thumbnail.render(kodak(), "200x200", { max_source_pixels = 1000 })
    T.match(err, "^too%-large: ", "max_source_pixels")
    data, err = thumbnail.render(kodak(), "200x200", { max_source_bytes = 100 })
    T.match(err, "^too%-large: ", "max_source_bytes")
    data = thumbnail.render(kodak(), "200x200", { max_output_width = 200, max_source_pixels = 393216 })
    T.ok(data, "within the limits")
    data, err = thumbnail.render(kodak(), "200x200", { max_output_widht = 100 })
    T.match(err, "^invalid%-argument: unknown limit max_output_widht", "unknown limit")
    data, err = thumbnail.render(kodak(), "200x200", { max_output_width = -1 })
    T.match(err, "^invalid%-argument: limits%.max_output_width", "negative limit")
    data, err = thumbnail.render(kodak(), "200x200", "big")
    T.match(err, "^invalid%-argument: limits must be a table", "limits not a table")
    local d = thumbnail.limits_default()
    T.eq(d.max_source_pixels, 50000000, "default max_source_pixels")
    T.eq(d.max_output_width, 4096, "default max_output_width")
    T.eq(d.strict, false, "default strict")
    T.eq(d.max_frames, 100, "default max_frames")
    T.eq(d.max_animation_pixels, 50000000, "default max_animation_pixels")
    T.eq(d.max_output_bytes, 0, "default max_output_bytes (no limit)")
    data, err = thumbnail.render(kodak(), "200x200,png", { max_output_bytes = 1000 })
    T.match(err, "^too%-large: output is %d+ bytes, limit 1000", "max_output_bytes")
    data = thumbnail.render(kodak(), "200x200", { strict = true })
    T.ok(data, "strict on a sound file")
    local truncated = T.corpus_file("corrupt/truncated/peacock.default.truncated.jpeg")
    data = thumbnail.render(truncated, "64x64")
    T.ok(data, "a truncated JPEG is served as it decodes")
    data, err = thumbnail.render(truncated, "64x64", { strict = true })
    T.match(err, "^corrupt: ", "strict refuses a truncated JPEG")
    data, err = thumbnail.render(kodak(), "200x200", { strict = 1 })
    T.match(err, "^invalid%-argument: limits%.strict must be a boolean", "strict not a boolean")
end)

test("bad argument types return nil, err and never throw", function()
    local cases = {
        { thumbnail.render, nil, "100x100" },
        { thumbnail.render, "x", 100 },
        { thumbnail.probe, {} },
        { thumbnail.canonical, nil },
    }
    for i, c in ipairs(cases) do
        local ok, data, err = pcall(c[1], c[2], c[3])
        T.ok(ok, "case " .. i .. " threw: " .. tostring(data))
        T.eq(data, nil, "case " .. i .. " value")
        T.match(err, "^invalid%-argument: ", "case " .. i .. " err")
    end
end)

test("canonical", function()
    T.eq(thumbnail.canonical("200x200,q90,cover"), "200x200,cover,q90", "canonical")
    T.eq(thumbnail.canonical("x100,q80,inside"), "x100", "defaults dropped")
    local s, err = thumbnail.canonical("200x200,bogus")
    T.eq(s, nil, "invalid")
    T.match(err, "^invalid%-spec: ", "err")
    -- issue 18: canonical forms longer than their input (the buffer was
    -- sized #spec + 1: buffer-too-small)
    T.eq(thumbnail.canonical("200x200,jpg"), "200x200,jpeg", "jpg grows to jpeg")
    T.eq(thumbnail.canonical("9x9,bg=222"), "9x9,bg=222222", "bg=RGB grows to RRGGBB")
    T.eq(thumbnail.canonical("9x,jpg,bg=123,q9"), "9x,jpeg,q9,bg=112233", "both")
    T.eq(thumbnail.spec_canonical_max, 256, "THUMBNAIL_SPEC_CANONICAL_MAX")
    -- the longest canonical spec (auto=webp, every operation, anim) fits
    local longest = "65535x65535,cover,auto=webp,q100,enlarge,bg=112233,progressive,noorient,"
        .. "focus=0.333,0.667,rotate=270,flip,flop,sharpen=5,wm,anim"
    T.eq(thumbnail.canonical(longest), longest, "the longest canonical spec")
    -- longer than the module's 256-byte buffer
    s, err = thumbnail.canonical(("200x200,"):rep(40))
    T.eq(s, nil, "long spec")
    T.match(err, "^invalid%-spec: ", "long spec err")
end)

test("http_status maps error prefixes", function()
    T.eq(thumbnail.http_status("invalid-spec: x"), 400, "invalid-spec")
    T.eq(thumbnail.http_status("too-large: x"), 413, "too-large")
    T.eq(thumbnail.http_status("unsupported: x"), 415, "unsupported")
    T.eq(thumbnail.http_status("corrupt: x"), 415, "corrupt")
    T.eq(thumbnail.http_status("load-failed: x"), 502, "load-failed")
    T.eq(thumbnail.http_status("internal: x"), 500, "internal")
    T.eq(thumbnail.http_status(nil), 500, "nil")
end)

test("cache: get_or_render then hits with identical bytes", function()
    local cache = T.ok(thumbnail.cache.new { size = 4 * 1024 * 1024, shards = 4 }, "cache.new")
    local key = KODAK .. "|" .. thumbnail.canonical("200x200")
    T.eq(cache:get(key), nil, "get before")
    local d1, i1 = cache:get_or_render(key, kodak(), "200x200")
    T.ok(d1, "get_or_render: " .. tostring(i1))
    T.eq(i1.cache, "rendered", "first source")
    T.eq(i1.width, 200, "width")
    T.eq(i1.height, 133, "height")
    local s1 = cache:stats()
    local d2, i2 = cache:get_or_render(key, kodak(), "200x200")
    T.eq(d2, d1, "second get_or_render bytes")
    T.eq(i2.cache, "hit", "second source")
    local d3, i3 = cache:get(key)
    T.eq(d3, d1, "get bytes")
    T.eq(i3.cache, "hit", "get source")
    T.eq(i3.media_type, "image/png", "get media_type")
    local s2 = cache:stats()
    T.eq(s2.hits, s1.hits + 2, "hits")
    T.eq(s2.gets, s2.hits + s2.misses, "gets == hits + misses")
    T.eq(s2.items, 1, "items")
    T.eq(s2.shards, 4, "shards")
    T.eq(s2.local_loads, 1, "local_loads")
    -- an invalid spec is an error even on a hit
    local d4, err = cache:get_or_render(key, kodak(), "nope")
    T.eq(d4, nil, "invalid spec on a hit")
    T.match(err, "^invalid%-spec: ", "err")
    T.ok(cache:close(), "close")
end)

test("cache: loader function runs only on a miss", function()
    local cache = T.ok(thumbnail.cache.new { size = 4 * 1024 * 1024 }, "cache.new")
    local calls = 0
    local function loader()
        calls = calls + 1
        return kodak()
    end
    local d1, i1 = cache:get_or_render("k", loader, "100x100,jpeg")
    T.ok(d1, "first: " .. tostring(i1))
    T.eq(calls, 1, "loader calls after a miss")
    T.eq(i1.cache, "rendered", "first source")
    T.eq(d1:sub(1, 3), JPEG_SOI, "JPEG")
    local d2, i2 = cache:get_or_render("k", loader, "100x100,jpeg")
    T.eq(calls, 1, "loader calls after a hit")
    T.eq(d2, d1, "bytes")
    T.eq(i2.cache, "hit", "second source")
    T.eq(i2.width, 100, "width")

    local d3, err = cache:get_or_render("k", loader, "100x100,nope")
    T.eq(d3, nil, "invalid spec")
    T.match(err, "^invalid%-spec: ", "invalid spec err")
    T.eq(calls, 1, "loader not called for an invalid spec")

    d3, err = cache:get_or_render("k2", function() return nil, "upstream said 404" end, "100x100")
    T.eq(d3, nil, "failed loader")
    T.eq(err, "load-failed: upstream said 404", "failed loader err")
    T.eq(thumbnail.http_status(err), 502, "http_status")
    d3, err = cache:get_or_render("k2", function() return 42 end, "100x100")
    T.match(err, "^load%-failed: loader returned a number", "loader returning a number")
    d3, err = cache:get_or_render("k2", function() end, "100x100")
    T.match(err, "^load%-failed: ", "loader returning nothing")
    d3, err = cache:get_or_render("k3", 42, "100x100")
    T.match(err, "^invalid%-argument: source must be", "source neither string nor function")
    cache:close()
end)

test("cache: growing specs through get_or_render, with a source and a loader", function()
    local cache = T.ok(thumbnail.cache.new(), "cache.new")
    for _, spec in ipairs { "20x20,jpg", "20x20,contain,bg=222" } do
        local d, i = cache:get_or_render("s|" .. spec, kodak(), spec)
        T.ok(d, spec .. " with a source: " .. tostring(i))
        d, i = cache:get_or_render("l|" .. spec, kodak, spec)
        T.ok(d, spec .. " with a loader: " .. tostring(i))
        T.eq(i.cache, "rendered", spec .. " source")
    end
    cache:close()
end)

test("cache: a miss through a loader counts one get and one miss", function()
    local cache = T.ok(thumbnail.cache.new(), "cache.new")
    local d, i = cache:get_or_render("once", kodak, "30x30,jpeg")
    T.ok(d, "rendered: " .. tostring(i))
    local s = cache:stats()
    T.eq(s.gets, 1, "gets after one miss")
    T.eq(s.misses, 1, "misses after one miss")
    T.eq(s.loads, 1, "loads")
    d, i = cache:get_or_render("once", kodak, "30x30,jpeg")
    T.eq(i.cache, "hit", "then a hit")
    s = cache:stats()
    T.eq(s.gets, 2, "gets after a hit")
    T.eq(s.hits, 1, "hits")
    T.eq(s.gets, s.hits + s.misses, "gets == hits + misses")
    cache:close()
end)

test("cache: a loader may yield while other calls reuse the module's buffers", function()
    local cache = T.ok(thumbnail.cache.new(), "cache.new")
    local co = coroutine.wrap(function()
        return cache:get_or_render("y", function()
            coroutine.yield("paused")
            return kodak()
        end, "60x60", { max_output_width = 100 })
    end)
    T.eq(co(), "paused", "first resume")
    -- meanwhile: calls that fill the error buffer, limits, out-pointers
    local _, err = thumbnail.render(kodak(), "200x200", { max_output_width = 10 })
    T.match(err, "^too%-large", "render in between")
    T.ok(thumbnail.render(kodak(), "30x30"), "render in between")
    local data, info = co()
    T.ok(data, "after resume: " .. tostring(info))
    T.eq(info.width, 60, "width")
    T.eq(info.height, 40, "height")
    T.eq(info.cache, "rendered", "source")
    cache:close()
end)

test("cache: remove, clear, stats_json, close", function()
    local cache = T.ok(thumbnail.cache.new { size = 1024 * 1024, shards = 1 }, "cache.new")
    local src = T.ok(thumbnail.render(kodak(), "64x64"), "small source")
    T.ok(cache:get_or_render("a", src, "32x32"), "a")
    T.ok(cache:get_or_render("b", src, "16x16"), "b")
    T.eq(cache:remove("a"), true, "remove a")
    T.eq(cache:remove("a"), false, "remove a again")
    T.eq(cache:get("a"), nil, "a removed")
    T.ok(cache:get("b"), "b kept")
    T.eq(cache:clear(), true, "clear")
    T.eq(cache:get("b"), nil, "b cleared")
    local s = cache:stats()
    T.eq(s.items, 0, "items after clear")
    T.eq(s.bytes, 0, "bytes after clear")
    local json = T.ok(cache:stats_json(), "stats_json")
    T.match(json, '^{"gets":%d+,"hits":%d+,', "json start")
    T.match(json, '"shards":1}$', "json end")
    T.match(json, '"items":0,', "json items")
    T.eq(cache:close(), true, "close")
    T.eq(cache:close(), true, "close twice")
    local v, err = cache:get("b")
    T.eq(v, nil, "get after close")
    T.eq(err, "invalid-argument: cache is closed", "err after close")
    v, err = cache:get_or_render("b", src, "16x16")
    T.eq(err, "invalid-argument: cache is closed", "get_or_render after close")
    v, err = cache:stats()
    T.eq(err, "invalid-argument: cache is closed", "stats after close")
    T.eq(tostring(cache), "thumbnail.cache (closed)", "tostring")
end)

test("cache: bad keys and options", function()
    local cache = T.ok(thumbnail.cache.new(), "cache.new")
    local v, err = cache:get("\255\254")
    T.eq(v, nil, "non-UTF-8 key")
    T.match(err, "^invalid%-argument: ", "non-UTF-8 key err")
    v, err = cache:get(1)
    T.match(err, "^invalid%-argument: key must be a string", "number key")
    cache:close()
    v, err = thumbnail.cache.new { sise = 1 }
    T.eq(v, nil, "unknown option")
    T.match(err, "^invalid%-argument: unknown cache option sise", "unknown option err")
    v, err = thumbnail.cache.new { size = -1 }
    T.match(err, "^invalid%-argument: cache option size", "negative size")
    v, err = thumbnail.cache.new { shards = 0 }
    T.match(err, "^invalid%-argument: cache option shards", "zero shards")
    v, err = thumbnail.cache.new { ttl = 0 / 0 }
    T.match(err, "^invalid%-argument: cache option ttl", "NaN ttl")
    v, err = thumbnail.cache.new("big")
    T.match(err, "^invalid%-argument: ", "options not a table")
end)

test("cache: ttl expires values, error_ttl remembers failures", function()
    local cache = T.ok(thumbnail.cache.new { ttl = 0.05, error_ttl = 60 }, "cache.new")
    local src = T.ok(thumbnail.render(kodak(), "64x64"), "small source")
    T.ok(cache:get_or_render("v", src, "32x32"), "value")
    T.ok(cache:get("v"), "fresh")
    os.execute("sleep 0.15")
    T.eq(cache:get("v"), nil, "expired")
    T.ok(cache:stats().expirations >= 1, "expirations counted")

    local bad = T.corpus_file("corrupt/jpeg/missing-sos.jpg")
    local _, e1 = cache:get_or_render("bad", bad, "32x32")
    T.match(e1, "^corrupt: ", "first failure")
    local _, e2 = cache:get_or_render("bad", src, "32x32")
    T.eq(e2, e1, "remembered failure (source not rendered again)")
    T.eq(cache:stats().error_hits, 1, "error_hits")
    T.eq(cache:get("bad"), nil, "get of a remembered error is a miss")
    cache:close()
end)

test("render_for_thread returns plain values; render_in_thread needs nginx", function()
    local data, w, h, mt, fmt = thumbnail.render_for_thread(kodak(), "200x200,jpeg")
    T.eq(type(data), "string", "data")
    T.eq(w, 200, "width")
    T.eq(h, 133, "height")
    T.eq(mt, "image/jpeg", "media_type")
    T.eq(fmt, "jpeg", "format")
    local none, err = thumbnail.render_for_thread(kodak(), "nope")
    T.eq(none, nil, "error value")
    T.match(err, "^invalid%-spec: ", "error message")
    none, err = thumbnail.render_for_thread(kodak(), "200x200", { max_output_width = 1 })
    T.match(err, "^too%-large: ", "limits cross the thread boundary")
    none, err = thumbnail.render_in_thread("default", kodak(), "200x200")
    T.eq(none, nil, "render_in_thread outside nginx")
    T.match(err, "^internal: ngx%.run_worker_thread is not available", "err")
end)

test("loading: lib_path from resty.thumbnail.config", function()
    local ok, mod = reload_with { lib_path = thumbnail.library_path }
    T.ok(ok, "reload with the real library: " .. tostring(mod))
    T.eq(mod.library_path, thumbnail.library_path, "library_path")
    T.ok(mod ~= thumbnail, "a fresh module table")
    T.ok(mod.render(kodak(), "10x10"), "the reloaded module renders")
    local err
    ok, err = reload_with { lib_path = "/nonexistent/libthumbnail.so" }
    T.eq(ok, false, "reload with a bad lib_path")
    T.match(err, "^resty%.thumbnail: cannot load libthumbnail from /nonexistent/libthumbnail%.so %(resty%.thumbnail%.config lib_path%)",
            "error")
end)

test("loading: a resty/thumbnail/config.lua file on package.path", function()
    local dir = T.root .. "/target/lua-test/config"
    os.execute("mkdir -p " .. shell_quote(dir .. "/resty/thumbnail"))
    local file = dir .. "/resty/thumbnail/config.lua"
    local saved_path = package.path
    local function with_config(text)
        local f = assert(io.open(file, "w"))
        f:write(text)
        f:close()
        package.path = dir .. "/?.lua;" .. saved_path
        local ok, res = reload_with(nil)
        package.path = saved_path
        package.loaded["resty.thumbnail.config"] = nil
        return ok, res
    end
    local ok, res = with_config("return { lib_path = " .. ("%q"):format(thumbnail.library_path) .. " }\n")
    T.ok(ok, "config file with the real library: " .. tostring(res))
    T.eq(res.library_path, thumbnail.library_path, "library_path")
    ok, res = with_config("return { lib_path = '/nonexistent/from-config.so' }\n")
    T.eq(ok, false, "config file with a bad path")
    T.match(res, "cannot load libthumbnail from /nonexistent/from%-config%.so", "error")
    ok, res = with_config("return {\n")
    T.eq(ok, false, "config file with a syntax error")
    T.match(res, "^resty%.thumbnail: error in resty%.thumbnail%.config: ", "error")
end)

test("loading: ABI mismatch is a clear error at require time", function()
    local dir = T.root .. "/target/lua-test/fake-abi"
    local so = dir .. "/libthumbnail.so"
    local c = dir .. "/fake.c"
    os.execute("mkdir -p " .. shell_quote(dir))
    local f = assert(io.open(c, "w"))
    f:write("unsigned int thumbnail_abi_version(void) { return 999; }\n")
    f:close()
    local rc = os.execute("cc -shared -fPIC -o " .. shell_quote(so) .. " " .. shell_quote(c) .. " 2>/dev/null")
    if rc ~= 0 and rc ~= true then
        print("# skipped: no C compiler to build a fake library")
        return
    end
    local ok, err = reload_with { lib_path = so }
    T.eq(ok, false, "require with an ABI 999 library")
    T.match(err, "ABI mismatch: .*libthumbnail%.so has ABI version 999, but these bindings were generated for ABI version "
            .. cdefs.abi_version, "error")
end)

test("loading: THUMBNAIL_LIB and the package.cpath search", function()
    local lib_path = T.lua_dir .. "/lib/?.lua;"
    local code = "package.path = " .. ("%q"):format(lib_path) .. " .. package.path; "
        .. "package.cpath = %q; local ok, e = pcall(require, 'resty.thumbnail'); "
        .. "io.write(ok and ('ok ' .. e.library_path) or e)"
    local function run(env, cpath)
        local cmd = env .. " " .. shell_quote(luajit_bin()) .. " -e "
            .. shell_quote(code:format(cpath)) .. " 2>&1"
        local h = io.popen(cmd)
        local out = h:read("*a")
        h:close()
        return out
    end
    local out = run("THUMBNAIL_LIB=/nonexistent/lib.so", "")
    T.match(out, "^resty%.thumbnail: cannot load libthumbnail from /nonexistent/lib%.so %(THUMBNAIL_LIB%)", "THUMBNAIL_LIB")
    out = run("THUMBNAIL_LIB=" .. shell_quote(thumbnail.library_path), "")
    T.eq(out, "ok " .. thumbnail.library_path, "THUMBNAIL_LIB to the real library")
    local release = T.root .. "/target/release"
    out = run("THUMBNAIL_LIB=", "/nonexistent/?.so;" .. release .. "/?.so")
    T.eq(out, "ok " .. release .. "/libthumbnail.so", "found through package.cpath")
    -- issue 18: the directory of each cpath entry, as lua-resty-core's
    -- load_shared_lib does: an entry whose file part is not ?.so counts too
    out = run("THUMBNAIL_LIB=", "/nonexistent/lua/?.so;" .. release .. "/loadall.so")
    T.eq(out, "ok " .. release .. "/libthumbnail.so", "directory of a cpath entry")
    out = run("THUMBNAIL_LIB=", "/nonexistent/a/?.so;/nonexistent/b/?/init.so")
    if out:sub(1, 3) ~= "ok " then -- unless a libthumbnail is installed system-wide
        T.match(out, "^resty%.thumbnail: cannot find libthumbnail", "not found")
        -- every path tried is listed
        T.match(out, "/nonexistent/a/libthumbnail%.so, /nonexistent/b/%?/libthumbnail%.so, "
                .. "libthumbnail%.so%." .. cdefs.abi_version .. " in the system library path", "tried: " .. out)
    end
    -- a runtime-only install (the SONAME, no libthumbnail.so link) is found
    local solo = T.root .. "/target/lua-test/soname-only"
    os.execute("rm -rf " .. shell_quote(solo) .. " && mkdir -p " .. shell_quote(solo))
    os.execute("cp " .. shell_quote(release .. "/libthumbnail.so") .. " "
               .. shell_quote(solo .. "/libthumbnail.so." .. cdefs.abi_version))
    out = run("THUMBNAIL_LIB= LD_LIBRARY_PATH=" .. shell_quote(solo), "/nonexistent/?.so")
    T.eq(out, "ok libthumbnail.so." .. cdefs.abi_version .. " (system library path)", "by SONAME")
end)

test("GC: dropped caches and results are freed (RSS stays bounded)", function()
    local src = T.ok(thumbnail.render(kodak(), "96x96,jpeg"), "small source")
    local function round(i)
        local cache = thumbnail.cache.new { size = 256 * 1024, shards = 2 }
        -- PNG outputs of ~20 KB, so that a leaked image or cache shows
        local d1 = cache:get_or_render("k" .. i, src, "96x96,png")
        local d2 = cache:get_or_render("l" .. i, function() return src end, "90x90,png")
        local d3 = thumbnail.render(src, "80x80,png")
        assert(d1 and d2 and d3 and cache:get("k" .. i))
        if i % 3 == 0 then
            cache:close()
        end -- the others are left to ffi.gc
    end
    -- The collector does not see the C memory behind a cache handle, so
    -- caches left to ffi.gc pile up between cycles and malloc keeps the high
    -- water mark: warm up to that steady state first, then measure growth
    -- over 2000 more rounds (a leak of one ~20 KB image per round shows as
    -- 40 MB).
    local function settle()
        collectgarbage("collect")
        collectgarbage("collect")
        if malloc_trim then
            malloc_trim(0)
        end
    end
    for i = 1, 1000 do
        round(i)
    end
    settle()
    local base = rss_bytes()
    for i = 1, 2000 do
        round(i)
    end
    settle()
    local after = rss_bytes()
    local growth = after - base
    print(("# RSS %.1f MiB -> %.1f MiB (%+.2f MiB over 2000 rounds)")
          :format(base / 1048576, after / 1048576, growth / 1048576))
    T.ok(growth < 8 * 1024 * 1024, ("RSS grew by %.1f MiB"):format(growth / 1048576))
end)

-- Issue 19: overlays, signers, the operation options -------------------------

-- A small PNG with transparency (tRNS) from the corpus, as a logo.
local function red_logo()
    return T.corpus_file("edge/png-alpha/rgb_trns.png")
end

test("overlay: watermarks renders, apply=wm needs wm, bad input is an error", function()
    local ov, err = thumbnail.overlay.new(red_logo(), "gravity=southeast margin=4 opacity=0.5")
    T.ok(ov, err)
    T.match(ov:id(), "^%x+$", "id")
    T.eq(#ov:id(), 16, "id length")
    local plain = assert(thumbnail.render(kodak(), "200x,png"))
    local marked, info = thumbnail.render(kodak(), "200x,png", nil, ov)
    T.ok(marked, info)
    T.ok(marked ~= plain, "the overlay changes the image")
    T.eq(info.width, 200, "width")
    local by_wm = assert(thumbnail.overlay.new(red_logo(), "apply=wm"))
    T.eq(assert(thumbnail.render(kodak(), "200x,png", nil, by_wm)), plain, "apply=wm without wm")
    T.ok(assert(thumbnail.render(kodak(), "200x,png,wm", nil, by_wm)) ~= plain, "apply=wm with wm")
    local data
    data, err = thumbnail.render(kodak(), "200x,wm")
    T.eq(data, nil, "wm without overlay")
    T.match(err, "^invalid%-spec: wm: no watermark overlay", "wm err")
    data, err = thumbnail.overlay.new("nope", "")
    T.eq(data, nil, "bad image")
    T.match(err, "^unsupported: ", "bad image err")
    data, err = thumbnail.overlay.new(red_logo(), "opacity=9")
    T.match(err, "^invalid%-spec: watermark option", "bad options err")
    data, err = thumbnail.render(kodak(), "200x", nil, {})
    T.match(err, "^invalid%-argument: overlay must come from", "not an overlay")
    -- The cache: the key names the overlay.
    local c = assert(thumbnail.cache.new())
    local key = "kodim01|200x,png|wm=" .. ov:id()
    local a, ia = c:get_or_render(key, kodak(), "200x,png", nil, ov)
    T.eq(ia.cache, "rendered", "first")
    local b, ib = c:get_or_render(key, kodak(), "200x,png", nil, ov)
    T.eq(ib.cache, "hit", "second")
    T.eq(a, marked, "cached bytes = direct render")
    T.eq(b, marked, "hit bytes")
    ov:close()
    data, err = thumbnail.render(kodak(), "200x", nil, ov)
    T.match(err, "overlay is closed", "closed overlay")
end)

test("signer: imgproxy's vector, truncation, rotation, expiry", function()
    local path = "/rs:fill:300:400:0/g:sm/aHR0cDovL2V4YW1w/bGUuY29tL2ltYWdl/cy9jdXJpb3NpdHku/anBn.png"
    local sig = "oKfUtW34Dvo2BGQehJFR4Nr0_rIjOtdtzJ3QFsUcXH8"
    local s = assert(thumbnail.signer.new{ { key = "736563726574", salt = "68656C6C6F" } })
    T.eq(s:sign(path), sig, "imgproxy's documented signature")
    T.eq(s:verify(path, sig), true, "verify")
    T.eq(s:verify(path .. "x", sig), false, "tampered path")
    T.eq(s:verify(path, sig:sub(1, 42)), false, "tampered signature")
    local s8 = assert(thumbnail.signer.new{ { key = "736563726574", salt = "68656C6C6F" }, size = 8 })
    T.eq(s8:sign(path), "oKfUtW34Dvo", "size 8")
    local rotated = assert(thumbnail.signer.new{
        { key = "00ff", salt = "01" }, { key = "736563726574", salt = "68656C6C6F" } })
    T.eq(rotated:verify(path, sig), true, "old pair verifies")
    T.ok(rotated:sign(path) ~= sig, "new pair signs")
    local exp = "/200x200,cover,exp=1767225600/cat.jpg"
    local esig = s:sign(exp)
    T.eq(s:verify(exp, esig, 1767225600), true, "until exp")
    T.eq(s:verify(exp, esig, 1767225601), false, "after exp")
    local bad, err = thumbnail.signer.new{ { key = "xyz", salt = "00" } }
    T.eq(bad, nil, "bad key")
    T.match(err, "^invalid%-argument: signing key 1 is not hex", "bad key err")
    bad, err = thumbnail.signer.new{}
    T.match(err, "^invalid%-argument: ", "no key")
    s:close()
    T.eq(s:verify(path, sig), false, "closed")
end)

test("canonical may be longer than its input; the operation options", function()
    T.eq(thumbnail.canonical("x1,bg=123"), "x1,bg=112233", "bg=123")
    T.eq(thumbnail.canonical("9x9,wm,rotate=90,cover,focus=0.50,0.25"), "9x9,cover,focus=0.5,0.25,rotate=90,wm",
         "operations")
    local data, info = thumbnail.render(kodak(), "100x100,cover,attention,rotate=90,flop,sharpen=3,png")
    T.ok(data, info)
    T.eq(info.width, 100, "width")
end)

return tests
