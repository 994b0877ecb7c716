-- agent.lua: asking the local Consul agent about a source the intentions map cannot decide.
--
-- Why this file exists: a source outside the default namespace or partition, or any source
-- before the map knows Consul's default, is decided by `POST /v1/agent/connect/authorize`.
-- HAProxy has no JSON library and its `core.httpclient` takes a plain table, so this file
-- builds that request (URL, token header, JSON body), reads the agent's answer with a minimal
-- JSON reader (bounded in size and depth, duplicates refused, never fooled by look-alike text)
-- and turns any response into a verdict. Anything odd (non-200, unparsable body, timeout) is a
-- deny that is not cached. Pure functions only: lua/authorize.lua does the call and passes
-- getenv, the file reader and the response in, so test/lua/agent_spec.lua runs this under
-- plain lua5.3 and lua5.4.
--
-- Limits: the agent must be reachable as `http://<ip>:<port>`. https and unix-socket agents
-- are not supported by this Lua path: decisions then come from the map alone and every
-- undecided source is denied (reason `no-agent`). The token is read once at load (from
-- CONSUL_HTTP_TOKEN_FILE, else CONSUL_HTTP_TOKEN) and is never logged.
--
-- Bounding the agent call (HAProxy 2.6.12, read in its sources and seen in a smoke run). The
-- request's `timeout` field (250 ms) sets the httpclient's "timeout server"; a timed-out
-- attempt is retried 3 times, so a silent agent costs about 4 x 250 ms before a synthetic 504
-- (a refused connection: 3 retries 1 s apart, then a 503). In tcp mode the hard bound is
-- `tcp-request inspect-delay 1s`: when it expires, tcp_inspect_request re-runs the rule with
-- ACT_OPT_FINAL, hlua resumes the script with yielding forbidden, the script's next yield
-- inside the httpclient wait aborts it ("Lua function 'authorize': aborting Lua processing on
-- expired timeout") and the action returns ACT_RET_CONT. authorize.lua stores decision "deny",
-- reason "agent-timeout" before it begins to wait, so the next rule, `reject unless
-- { var(sess.mesh_decision) -m str allow }`, closes the connection (measured: rejected at
-- 1002 ms). A Lua error ends the same way. With `http-request lua.authorize` there is no
-- inspect-delay, so only the httpclient bound applies. `tune.lua.session-timeout` counts Lua
-- run time only, never the wait.

local M = {}

local byte, sub, find, match, format = string.byte, string.sub, string.find, string.match,
  string.format
local concat = table.concat

local MAX_BODY = 65536
local MAX_JSON_DEPTH = 16
M.AGENT_TIMEOUT_MS = 250

-- Minimal JSON reader -----------------------------------------------------------------------

local ESCAPES = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
  r = "\r", t = "\t" }

local function ws(s, i) return find(s, "[^ \t\r\n]", i) or #s + 1 end

-- Reads the JSON string starting at s[i] == '"': value, next index | nil.
local function read_string(s, i)
  if sub(s, i, i) ~= '"' then return nil end
  local out, j = {}, i + 1
  while true do
    local a = find(s, '["\\%c]', j)
    if not a then return nil end
    out[#out + 1] = sub(s, j, a - 1)
    local c = sub(s, a, a)
    if c == '"' then return concat(out), a + 1 end
    if c ~= "\\" then return nil end
    local e = sub(s, a + 1, a + 1)
    if e == "u" and find(s, "^%x%x%x%x", a + 2) then
      out[#out + 1], j = "?", a + 6
    elseif ESCAPES[e] then
      out[#out + 1], j = ESCAPES[e], a + 2
    else
      return nil
    end
  end
end

-- Reads one JSON value at i: next index, kind ("string"|"literal"|"object"|"array"), value.
-- Object values come back as a table of member -> {kind, value}; duplicates are an error.
local function read_value(s, i, depth)
  if depth > MAX_JSON_DEPTH then return nil end
  i = ws(s, i)
  local c = sub(s, i, i)
  if c == '"' then
    local v, j = read_string(s, i)
    if v then return j, "string", v end
    return nil
  end
  if c ~= "{" and c ~= "[" then
    local lit = match(s, "^[%w%.%+%-]+", i)
    if lit then return i + #lit, "literal", lit end
    return nil
  end
  local close, members = c == "{" and "}" or "]", {}
  i = ws(s, i + 1)
  if sub(s, i, i) == close then return i + 1, c == "{" and "object" or "array", members end
  while true do
    local key
    if c == "{" then
      key, i = read_string(s, i)
      if not key or members[key] then return nil end
      i = ws(s, i)
      if sub(s, i, i) ~= ":" then return nil end
      i = i + 1
    end
    local j, kind, v = read_value(s, i, depth + 1)
    if not j then return nil end
    if key then members[key] = { kind, v } end
    i = ws(s, j)
    local d = sub(s, i, i)
    if d == close then return i + 1, c == "{" and "object" or "array", members end
    if d ~= "," then return nil end
    i = ws(s, i + 1)
  end
end

-- Reads the agent's {"Authorized":bool,"Reason":string} | nil, err.
function M.parse_authorize(body)
  if type(body) ~= "string" or #body > MAX_BODY then return nil, "bad body" end
  local j, kind, obj = read_value(body, 1, 0)
  if not j or kind ~= "object" or ws(body, j) <= #body then return nil, "not a json object" end
  local a = obj.Authorized
  if not a or a[1] ~= "literal" or (a[2] ~= "true" and a[2] ~= "false") then
    return nil, "no Authorized"
  end
  local r = obj.Reason
  return a[2] == "true", (r and r[1] == "string") and r[2] or ""
end

-- Encodes a Lua string as a JSON string literal.
local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return format("\\u%04x", byte(c)) end) .. '"'
end

-- The request -------------------------------------------------------------------------------

-- Formats ssl_c_serial's binary value the way Consul does (lowercase colon hex).
function M.serial_hex(bin)
  if type(bin) ~= "string" or bin == "" then return "" end
  return (bin:gsub(".", function(c) return format("%02x:", byte(c)) end):sub(1, -2))
end

-- Validates MESHPLATE_AGENT_URL: "http://host:port" | nil, reason.
function M.parse_agent_url(url)
  if type(url) ~= "string" or url == "" then return nil, "MESHPLATE_AGENT_URL is not set" end
  local host = match(url, "^[hH][tT][tT][pP]://([^/?#@%s]+)/?$")
  if not host then return nil, "only http://host:port agents are supported" end
  return "http://" .. host
end

-- Returns the Consul token: CONSUL_HTTP_TOKEN_FILE wins over CONSUL_HTTP_TOKEN | nil.
function M.load_token(getenv, readfile)
  local path = getenv("CONSUL_HTTP_TOKEN_FILE")
  if path and path ~= "" then
    local t = readfile(path)
    t = t and match(t, "^%s*(.-)%s*$")
    if t and t ~= "" then return t end
  end
  local t = getenv("CONSUL_HTTP_TOKEN")
  if t and t ~= "" then return t end
  return nil
end

-- Builds the httpclient request for one authorize call.
function M.agent_request(agent, token, target, uri, serial)
  local headers = { ["Content-Type"] = { "application/json" } }
  if token then headers["X-Consul-Token"] = { token } end
  return { url = agent .. "/v1/agent/connect/authorize", headers = headers,
    timeout = M.AGENT_TIMEOUT_MS,
    body = '{"Target":' .. json_string(target) .. ',"ClientCertURI":' .. json_string(uri)
      .. ',"ClientCertSerial":' .. json_string(serial or "") .. "}" }
end

-- The verdict -------------------------------------------------------------------------------

-- Turns an httpclient response into decision, reason, cacheable. Anything odd is a deny.
-- No status, or the 504 HAProxy makes up, after a full timeout means "agent-timeout".
function M.agent_verdict(res, elapsed_ms)
  local status = type(res) == "table" and res.status or nil
  if status ~= 200 then
    local synthetic = status == nil or status == 0 or status == 504
    if synthetic and (elapsed_ms or 0) >= M.AGENT_TIMEOUT_MS - 50 then
      return "deny", "agent-timeout", false
    end
    return "deny", "agent-error", false
  end
  local ok = M.parse_authorize(res.body)
  if ok == nil then return "deny", "agent-error", false end
  if ok then return "allow", "agent-allow", true end
  return "deny", "agent-deny", true
end

return M
