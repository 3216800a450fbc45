-- run.lua: a tiny test runner for the resty.thumbnail unit tests.
--
--   luajit bindings/lua/t/run.lua [TEST_FILE...]     (default: t/unit.lua)
--
-- A test file is a Lua chunk called with the helper table T (below) that
-- returns a list of { name, function }. Each function runs under pcall (with
-- a traceback); the runner prints `ok N - name` or `FAIL N - name` with the
-- error, then `N passed, M failed`, and exits 1 if anything failed.
--
-- Environment: THUMBNAIL_SHARED (the `shared` directory holding corpus/;
-- default <project>/../shared), THUMBNAIL_LIB (library path; default: found
-- through package.cpath, to which <project>/target/release/?.so is prepended).

local function dirname(p)
    return (p:match("^(.*)/[^/]*$")) or "."
end

local function abspath(p)
    if p:sub(1, 1) == "/" then
        return p
    end
    local pwd = os.getenv("PWD")
    if not pwd then
        local h = io.popen("pwd")
        pwd = h:read("*l")
        h:close()
    end
    return pwd .. "/" .. p
end

local function normalize(p)
    local parts = {}
    for part in p:gmatch("[^/]+") do
        if part == ".." then
            parts[#parts] = nil
        elseif part ~= "." then
            parts[#parts + 1] = part
        end
    end
    return "/" .. table.concat(parts, "/")
end

local this = debug.getinfo(1, "S").source:sub(2)
local tdir = normalize(dirname(abspath(this)))       -- bindings/lua/t
local lua_dir = dirname(tdir)                        -- bindings/lua
local root = dirname(dirname(lua_dir))               -- the project
local shared = os.getenv("THUMBNAIL_SHARED")
if not shared or shared == "" then
    shared = normalize(root .. "/../shared")
end

package.path = lua_dir .. "/lib/?.lua;" .. package.path
package.cpath = root .. "/target/release/?.so;" .. package.cpath

local T = {
    root = root,
    lua_dir = lua_dir,
    shared = shared,
    corpus = shared .. "/corpus",
}

function T.read(path)
    local f, err = io.open(path, "rb")
    if not f then
        error(err, 2)
    end
    local s = f:read("*a")
    f:close()
    return s
end

function T.corpus_file(rel)
    return T.read(T.corpus .. "/" .. rel)
end

local show
function show(v)
    if type(v) == "string" then
        if #v > 80 then
            return show(v:sub(1, 80)) .. ("..(%d bytes)"):format(#v)
        end
        return '"' .. v:gsub("[^ -~]", function(c)
            return ("\\x%02x"):format(c:byte())
        end) .. '"' 
    end
    return tostring(v)
end

function T.eq(got, want, what)
    if got ~= want then
        error(("%s: got %s, want %s"):format(what or "value", show(got), show(want)), 2)
    end
end

function T.ok(v, what)
    if not v then
        error((what or "expected a true value") .. ": got " .. show(v), 2)
    end
    return v
end

function T.match(s, pattern, what)
    if type(s) ~= "string" or not s:find(pattern) then
        error(("%s: %s does not match %q"):format(what or "string", show(s), pattern), 2)
    end
end

do
    local f = io.open(T.corpus .. "/MANIFEST.tsv", "rb")
    if f then
        f:close()
    else
        print("# no corpus at " .. T.corpus .. " (set THUMBNAIL_SHARED to the shared directory)")
    end
end

local files = { ... }
if #files == 0 then
    files = { tdir .. "/unit.lua" }
end

local passed, failed, n = 0, 0, 0
for _, file in ipairs(files) do
    local chunk, err = loadfile(file)
    local tests
    if chunk then
        local ok, res = xpcall(function() return chunk(T) end, debug.traceback)
        if ok then
            tests = res
        else
            err = res
        end
    end
    if not tests then
        n = n + 1
        failed = failed + 1
        print(("FAIL %d - loading %s\n    %s"):format(n, file, tostring(err):gsub("\n", "\n    ")))
    else
        for _, t in ipairs(tests) do
            n = n + 1
            local name, fn = t[1], t[2]
            local ok, terr = xpcall(fn, debug.traceback)
            if ok then
                passed = passed + 1
                print(("ok %d - %s"):format(n, name))
            else
                failed = failed + 1
                print(("FAIL %d - %s\n    %s"):format(n, name, tostring(terr):gsub("\n", "\n    ")))
            end
            io.stdout:flush()
        end
    end
end

print(("%d passed, %d failed"):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
