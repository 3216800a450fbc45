-- gen_cdefs.lua: generates lib/resty/thumbnail/cdefs.lua (the ffi.cdef text)
-- from include/thumbnail.h, so the declarations are never maintained by hand.
--
--   luajit bindings/lua/gen_cdefs.lua include/thumbnail.h [OUTPUT]
--
-- writes OUTPUT (or stdout). t/unit.lua loads this file with dofile() and
-- checks that the committed cdefs.lua equals what generate() makes now.
--
-- The header is read as C11 (not C++, __STDC_VERSION__ 201112L): comments
-- are stripped, #if/#ifdef/#ifndef/#else/#endif are evaluated, #include
-- lines are dropped, and object-like #defines become fields of the module
-- (THUMBNAIL_ABI_VERSION -> abi_version). What remains (typedefs, structs,
-- enums, prototypes) is the cdef text, with blank lines squeezed. A
-- preprocessor form this script does not understand is an error, never
-- silently kept.

local M = {}

-- The macros the conditionals may test. Any other identifier in an #if is an
-- error, so a new kind of conditional in the header is noticed.
local PREDEFINED = {
    __cplusplus = false,
    __STDC_VERSION__ = 201112,
}

local function strip_comments(text)
    -- block comments (non-greedy, may span lines)
    text = text:gsub("/%*.-%*/", "")
    -- line comments
    text = text:gsub("//[^\n]*", "")
    return text
end

-- Evaluates a #if expression over `defines` (name -> value or false).
local function eval_if(expr, defines, lineno)
    local e = expr
    e = e:gsub("defined%s*%(%s*([%a_][%w_]*)%s*%)", function(name)
        return defines[name] and " true " or " false "
    end)
    e = e:gsub("defined%s+([%a_][%w_]*)", function(name)
        return defines[name] and " true " or " false "
    end)
    e = e:gsub("(%d+)[uUlL]+", "%1")
    e = e:gsub("||", " or "):gsub("&&", " and ")
    e = e:gsub("!=", " ~= "):gsub("!", " not ")
    e = e:gsub("[%a_][%w_]*", function(name)
        if name == "true" or name == "false" or name == "or"
            or name == "and" or name == "not" then
            return name
        end
        local v = defines[name]
        if v == nil then
            error(("line %d: unknown macro %s in #if %s"):format(lineno, name, expr), 0)
        end
        if v == false then
            return "0"
        end
        return tostring(v)
    end)
    local f, err = loadstring("return " .. e)
    if not f then
        error(("line %d: cannot evaluate #if %s (%s)"):format(lineno, expr, err), 0)
    end
    local ok, v = pcall(f)
    if not ok then
        error(("line %d: cannot evaluate #if %s (%s)"):format(lineno, expr, v), 0)
    end
    return v ~= false and v ~= nil and v ~= 0
end

-- Returns the cdef text and a list of { name, value } for the #defines.
function M.extract(header)
    local text = strip_comments(header)
    local defines = {}
    for k, v in pairs(PREDEFINED) do
        defines[k] = v
    end
    local macros = {}
    local out = {}
    -- stack of { active = bool, taken = bool, parent = bool }
    local stack = {}
    local active = true
    local lineno = 0
    for line in (text .. "\n"):gmatch("([^\n]*)\n") do
        lineno = lineno + 1
        local directive, rest = line:match("^%s*#%s*(%a+)%s*(.-)%s*$")
        if directive then
            if directive == "if" or directive == "ifdef" or directive == "ifndef" then
                local cond
                if directive == "if" then
                    cond = active and eval_if(rest, defines, lineno)
                else
                    local name = rest:match("^([%a_][%w_]*)$")
                    if not name then
                        error(("line %d: bad #%s %s"):format(lineno, directive, rest), 0)
                    end
                    cond = not not defines[name]
                    if directive == "ifndef" then
                        cond = not cond
                    end
                end
                stack[#stack + 1] = { parent = active, taken = cond }
                active = active and cond
            elseif directive == "else" then
                local top = stack[#stack]
                if not top then
                    error(("line %d: #else without #if"):format(lineno), 0)
                end
                active = top.parent and not top.taken
                top.taken = true
            elseif directive == "endif" then
                local top = table.remove(stack)
                if not top then
                    error(("line %d: #endif without #if"):format(lineno), 0)
                end
                active = top.parent
            elseif directive == "include" then
                -- standard headers: LuaJIT knows their types
            elseif directive == "define" then
                if active then
                    local name, value = rest:match("^([%a_][%w_]*)%s*(.*)$")
                    if not name or name:find("%(") then
                        error(("line %d: unsupported #define %s"):format(lineno, rest), 0)
                    end
                    defines[name] = value ~= "" and value or true
                    if value ~= "" then
                        macros[#macros + 1] = { name, value }
                    end
                end
            else
                error(("line %d: unsupported directive #%s"):format(lineno, directive), 0)
            end
        elseif active then
            out[#out + 1] = (line:gsub("%s+$", ""))
        end
    end
    if #stack ~= 0 then
        error("unterminated #if", 0)
    end
    -- Layout: no blank lines inside a declaration, one between declarations;
    -- a lone "{" (after cbindgen's enum base type was removed) joins its line.
    local lines, depth = {}, 0
    for _, l in ipairs(out) do
        if l:match("^%s*{$") and #lines > 0 then
            lines[#lines] = lines[#lines] .. " {"
            depth = depth + 1
        elseif l:match("%S") then
            lines[#lines + 1] = l
            local _, opens = l:gsub("{", "")
            local _, closes = l:gsub("}", "")
            depth = depth + opens - closes
            if depth == 0 and l:match(";$") then
                lines[#lines + 1] = ""
            end
        end
    end
    local cdef = table.concat(lines, "\n"):gsub("\n+$", "")
    if cdef:find('extern%s+"C"') or cdef:find("[{}]%s*//") then
        error("extern \"C\" or comment left in the cdef text", 0)
    end
    return cdef .. "\n", macros
end

local function lua_value(value)
    if value:match('^"[^"\\]*"$') then
        return value
    end
    local n = value:match("^(%d+)[uUlL]*$")
    if n then
        return n
    end
    error("unsupported macro value " .. value, 0)
end

-- Returns the text of cdefs.lua for the header text.
function M.generate(header)
    local cdef, macros = M.extract(header)
    if cdef:find("]]", 1, true) then
        error("']]' in the cdef text", 0)
    end
    local buf = {
        "-- Generated by bindings/lua/gen_cdefs.lua from include/thumbnail.h:",
        "-- run `make lua-cdefs`, do not edit (t/unit.lua checks it is current).",
        "local _M = {",
    }
    for _, m in ipairs(macros) do
        local name = m[1]:gsub("^THUMBNAIL_", ""):lower()
        buf[#buf + 1] = ("    %s = %s,"):format(name, lua_value(m[2]))
    end
    buf[#buf + 1] = "}"
    buf[#buf + 1] = ""
    buf[#buf + 1] = "_M.cdef = [["
    buf[#buf + 1] = cdef .. "]]"
    buf[#buf + 1] = ""
    buf[#buf + 1] = "return _M"
    return table.concat(buf, "\n") .. "\n"
end

local function read_file(path)
    local f, err = io.open(path, "rb")
    if not f then
        error(err, 0)
    end
    local s = f:read("*a")
    f:close()
    return s
end
M.read_file = read_file

local function main(args)
    local input, output = args[1], args[2]
    if not input then
        io.stderr:write("usage: luajit gen_cdefs.lua include/thumbnail.h [OUTPUT]\n")
        os.exit(2)
    end
    local ok, res = pcall(function()
        return M.generate(read_file(input))
    end)
    if not ok then
        io.stderr:write("gen_cdefs.lua: ", input, ": ", tostring(res), "\n")
        os.exit(1)
    end
    if output then
        local tmp = output .. ".tmp"
        local f = assert(io.open(tmp, "wb"))
        f:write(res)
        f:close()
        assert(os.rename(tmp, output))
    else
        io.write(res)
    end
end

-- Run as a script (luajit gen_cdefs.lua ...), or return the module when
-- loaded with dofile()/require.
if arg and arg[0] and arg[0]:match("gen_cdefs%.lua$") then
    main(arg)
end

return M
