-- l7.lua: L7 intention permissions (path, methods, headers) for lua/authorize.lua.
--
-- Why this file exists: for HTTP-like destinations Consul's intentions are enforced per
-- request, and an intention with `Permissions` decides by the request's path, method and
-- headers. The renderer (src/connect/intentions-map.ts) writes each permission into the intentions
-- map as one line of percent-encoded tokens, so a change arrives through the runtime API
-- without a reload; this file reads those lines, compiles them once per map @version and
-- source, and matches a request against them. The first permission that matches decides; a
-- request matching none gets the agent's default action (`@default` in the map), as Consul
-- defines it. Anything unreadable denies: a bad line, a regex HAProxy will not compile, or a
-- missing default. A permission marked `never` (it needs a condition the renderer does not
-- enforce, such as a JWT) never matches. Pure functions only: the caller passes the request
-- and a regex compiler (HAProxy's Regex class), so the spec runs under plain lua5.3 and lua5.4.

local M = {}

local find, match, gsub, char, lower = string.find, string.match, string.gsub, string.char,
  string.lower

M.MAX_PERMISSIONS = 256

local function unpct(s)
  if find(s, "%%[^%x]") or find(s, "%%%x?$") then return nil end
  return (gsub(s, "%%(%x%x)", function(h) return char(tonumber(h, 16)) end))
end

local KINDS = { present = true, exact = true, prefix = true, suffix = true, contains = true,
  regex = true }

-- Reads `hdr=<kind>:<invert>[i]:<name>:<value>` | nil. `i`: compare ignoring ASCII case (the
-- value is kept lowercased, the request's value is lowercased before comparing).
local function header(v)
  local kind, inv, icase, name, value = match(v, "^(%l+):([01])(i?):([^:]+):([^:]*)$")
  if not kind or not KINDS[kind] then return nil end
  if icase == "i" and (kind == "present" or kind == "regex") then return nil end
  name, value = unpct(name), unpct(value)
  if not name or not value then return nil end
  local ignore_case = icase == "i"
  return { kind = kind, invert = inv == "1", ignore_case = ignore_case, name = lower(name),
    value = ignore_case and lower(value) or value }
end

-- Parses one permission line's value: `<allow|deny> <token>...` | nil, reason.
function M.parse_permission(line)
  if type(line) ~= "string" then return nil, "missing" end
  local action, rest = match(line, "^%s*(%l+)(.-)%s*$")
  if action ~= "allow" and action ~= "deny" then return nil, "bad action" end
  local p = { action = action, headers = {} }
  for token in rest:gmatch("%S+") do
    local k, v = match(token, "^([%l%.]+)=(.*)$")
    if k == "path.exact" or k == "path.prefix" or k == "path.regex" then
      if p.path_kind then return nil, "two path matches" end
      p.path_kind, p.path = match(k, "^path%.(%l+)$"), unpct(v)
      if not p.path then return nil, "bad " .. k end
    elseif k == "methods" then
      p.methods = {}
      for m in v:gmatch("[^,]+") do
        if not find(m, "^%u+$") then return nil, "bad method" end
        p.methods[m] = true
      end
    elseif token == "never" then
      -- A condition the renderer could not enforce: this allow never matches.
      p.never = true
    elseif k == "hdr" then
      local h = header(v)
      if not h then return nil, "bad header" end
      p.headers[#p.headers + 1] = h
    else
      return nil, "unknown token"
    end
  end
  return p
end

-- Compiles the regexes of a parsed permission with compile(re) -> matcher | nil, err.
local function compile_regexes(p, compile)
  if p.path_kind == "regex" then
    local re, err = compile(p.path)
    if not re then return nil, "bad regex: " .. tostring(err) end
    p.path_re = re
  end
  for _, h in ipairs(p.headers) do
    if h.kind == "regex" then
      local re, err = compile(h.value)
      if not re then return nil, "bad regex: " .. tostring(err) end
      h.re = re
    end
  end
  return p
end

-- Reads the n permissions of `source` through lookup(key) | nil, reason.
function M.load(lookup, source, n, compile)
  if type(n) ~= "number" or n < 1 or n > M.MAX_PERMISSIONS then return nil, "bad count" end
  local perms = {}
  for i = 1, n do
    local p, err = M.parse_permission(lookup("@p/" .. source .. "/" .. i))
    if not p then return nil, "permission " .. i .. ": " .. err end
    p, err = compile_regexes(p, compile)
    if not p then return nil, "permission " .. i .. ": " .. err end
    perms[i] = p
  end
  return perms
end

local function header_matches(h, req)
  local v = req.header(h.name)
  local hit
  if v ~= nil and h.ignore_case then v = lower(v) end
  if v == nil then
    hit = false
  elseif h.kind == "present" then
    hit = true
  elseif h.kind == "contains" then
    hit = find(v, h.value, 1, true) ~= nil
  elseif h.kind == "exact" then
    hit = v == h.value
  elseif h.kind == "prefix" then
    hit = v:sub(1, #h.value) == h.value
  elseif h.kind == "suffix" then
    hit = #h.value <= #v and v:sub(#v - #h.value + 1) == h.value
  else
    hit = h.re(v) and true or false
  end
  return hit ~= h.invert
end

-- True when request req = {path, method, header(name) -> value|nil} matches permission p.
function M.matches(p, req)
  if p.never then return false end
  local path = req.path or ""
  if p.path_kind == "exact" and path ~= p.path then return false end
  if p.path_kind == "prefix" and path:sub(1, #p.path) ~= p.path then return false end
  if p.path_kind == "regex" and not p.path_re(path) then return false end
  if p.methods and not p.methods[req.method or ""] then return false end
  for _, h in ipairs(p.headers) do
    if not header_matches(h, req) then return false end
  end
  return true
end

-- Decides a request: decision, rule ("<i>" or "default"), reason.
function M.decide(perms, req, default)
  for i, p in ipairs(perms) do
    if M.matches(p, req) then return p.action, tostring(i), "permission-" .. p.action end
  end
  if default == "allow" or default == "deny" then return default, "default", "default-" .. default end
  return "deny", "default", "no-default"
end

-- A per-@version cache of compiled permissions by source: at most `max` sources, then reset.
function M.new_rule_cache(compile, max)
  local version, entries, count = nil, {}, 0
  return function(lookup, current, source, n)
    if current ~= version then version, entries, count = current, {}, 0 end
    local e = entries[source]
    if e == nil then
      local perms, err = M.load(lookup, source, n, compile)
      e = perms or { err = err }
      if count >= (max or 1024) then entries, count = {}, 0 end
      entries[source], count = e, count + 1
    end
    if e.err then return nil, e.err end
    return e
  end
end

return M
