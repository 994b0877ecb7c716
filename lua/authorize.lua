-- authorize.lua: Consul intention checks for the meshplate HAProxy sidecar.
--
-- Why this file exists: a Consul leaf certificate names its workload only in a SPIFFE URI SAN,
-- and HAProxy 2.6 can neither match URI SANs (verifyhost reads DNS SANs and the CN) nor ask
-- the Consul agent for a decision. TLS (`verify required ca-file <consul roots>`) proves that
-- the peer holds a certificate from our CA; this file turns that certificate into a service
-- name and a decision. Inbound, the `lua.authorize` action reads the client certificate, looks
-- the source service up in the intentions map the renderer keeps current (exact name, then
-- `*`), and only when the map has no answer asks `POST /v1/agent/connect/authorize` through
-- the non-blocking `core.httpclient`, caching that answer per source for 30 s or until the
-- map's `@version` changes. Outbound, the `lua.mesh_peer_svc` fetch (tcp) names the upstream's
-- service so the config can refuse an impostor; HTTP upstreams look the server certificate's
-- fingerprint up in the map and call `mesh_learn_peer` only for one they have not seen. Every
-- failure (malformed DER, odd URI, agent error, timeout, non-200, unparsable body, Lua error)
-- ends in "deny"; nothing here raises.
--
-- Two worlds. Under plain lua5.3 (no global `core`) the file only returns the module table of
-- pure functions, which the tests drive. Under HAProxy (`lua-load` or `lua-load-per-thread`)
-- it also reads its environment once, opens the map and registers the action and the fetch.
--
-- Bounding the agent call (HAProxy 2.6.12, read in its sources and seen in a smoke run). The
-- request's `timeout` field (250 ms) sets the httpclient's "timeout server"; a timed-out
-- attempt is retried 3 times, so a silent agent costs about 4 x 250 ms before a synthetic 504
-- (a refused connection: 3 retries 1 s apart, then a 503). In tcp mode the hard bound is
-- `tcp-request inspect-delay 1s`: when it expires, tcp_inspect_request re-runs the rule with
-- ACT_OPT_FINAL, hlua resumes the script with yielding forbidden, the script's next yield
-- inside the httpclient wait aborts it ("Lua function 'authorize': aborting Lua processing on
-- expired timeout") and the action returns ACT_RET_CONT. The script stored decision "deny",
-- reason "agent-timeout" before it began to wait, so the next rule, `reject unless
-- { var(sess.mesh_decision) -m str allow }`, closes the connection (measured: rejected at
-- 1002 ms). A Lua error ends the same way. With `http-request lua.authorize` there is no
-- inspect-delay, so only the httpclient bound applies. `tune.lua.session-timeout` counts Lua
-- run time only, never the wait.

-- Limits: the agent must be reachable as `http://<ip>:<port>`. https and unix-socket agents
-- are not supported by this Lua path: decisions then come from the map alone and every
-- undecided source is denied (reason `no-agent`). The token is read once at load (from
-- CONSUL_HTTP_TOKEN_FILE, else CONSUL_HTTP_TOKEN) and is never logged. The map is read
-- through the Map object at request time, so runtime `add map`/`set map`/`commit map` apply
-- at once. Sources outside the default namespace/partition skip the map (its keys are bare
-- service names) and are decided by the agent.

-- L7 (HTTP-like destinations): a source whose intention carries `Permissions` is marked `l7 <n>`
-- in the map. `authorize` (bounded by inspect-delay, as it may wait for the agent) sets such a
-- connection's decision to "l7", kept like any table decision while @version is unchanged;
-- `lua.authorize_l7`, an http-request action run after the path is normalised, then decides
-- each request by lua/l7.lua (path, methods, headers), in txn variables only. Every result is written to txn
-- variables (this request) and sess variables (the connection, read by tcp-mode logs).

local M = {}

-- lua/l7.lua sits next to this file; found through this file's own path, which works under
-- HAProxy's lua-load and under plain lua alike.
local here = (debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")) or "./"
local L7 = dofile(here .. "l7.lua")
M.L7 = L7

local byte, sub, find, match, lower, format = string.byte, string.sub, string.find,
  string.match, string.lower, string.format
local concat = table.concat

local MAX_DER = 65536
local MAX_URI = 2048
local MAX_BODY = 65536
local MAX_JSON_DEPTH = 16
M.CACHE_TTL = 30
M.AGENT_TIMEOUT_MS = 250

-- DER ---------------------------------------------------------------------------------------

-- Reads the TLV at pos (which must end by limit): tag, first and last content index | nil, err.
local function tlv(s, pos, limit)
  if pos + 1 > limit then return nil, "truncated" end
  local tag, len = byte(s, pos, pos + 1)
  if tag % 32 == 31 then return nil, "unsupported tag" end
  pos = pos + 2
  if len == 0x80 then return nil, "indefinite length" end
  if len > 0x80 then
    local n = len - 0x80
    if n > 4 then return nil, "length too long" end
    if pos + n - 1 > limit then return nil, "truncated" end
    len = 0
    for i = pos, pos + n - 1 do len = len * 256 + byte(s, i) end
    pos = pos + n
  end
  local last = pos + len - 1
  if last > limit then return nil, "length exceeds input" end
  return tag, pos, last
end

-- Returns the content bounds of the first child of [first, last] tagged want | nil, err.
local function child(s, first, last, want)
  local pos = first
  while pos <= last do
    local tag, a, b = tlv(s, pos, last)
    if not tag then return nil, a end
    if tag == want then return a, b end
    pos = b + 1
  end
  return nil, "missing"
end

-- Returns the first uniformResourceIdentifier of a subjectAltName extension body.
local function san_uri(s, first, last)
  local tag, a, b = tlv(s, first, last)
  if tag == 0x01 then tag, a, b = tlv(s, b + 1, last) end -- critical flag
  if not tag then return nil, a end
  if tag ~= 0x04 then return nil, "bad extnValue" end
  tag, a, b = tlv(s, a, b)
  if not tag then return nil, a end
  if tag ~= 0x30 then return nil, "bad GeneralNames" end
  local ua, ub = child(s, a, b, 0x86)
  if not ua then return nil, ub == "missing" and "no uri san" or ub end
  if ub < ua or ub - ua + 1 > MAX_URI then return nil, "bad uri length" end
  local uri = sub(s, ua, ub)
  if find(uri, "[^\33-\126]") then return nil, "bad uri characters" end
  return uri
end

-- Returns the first URI SAN of an X.509 certificate in DER | nil, reason. Never raises.
function M.uri_san(der)
  if type(der) ~= "string" then return nil, "not a string" end
  local n = #der
  if n == 0 then return nil, "empty" end
  if n > MAX_DER then return nil, "too large" end
  local tag, a, b = tlv(der, 1, n)
  if not tag then return nil, a end
  if tag ~= 0x30 then return nil, "not a certificate" end
  if b ~= n then return nil, "trailing data" end
  tag, a, b = tlv(der, a, b)
  if not tag then return nil, a end
  if tag ~= 0x30 then return nil, "bad tbsCertificate" end
  a, b = child(der, a, b, 0xA3)
  if not a then return nil, b == "missing" and "no extensions" or b end
  tag, a, b = tlv(der, a, b)
  if not tag then return nil, a end
  if tag ~= 0x30 then return nil, "bad extensions" end
  local pos = a
  while pos <= b do
    local t, xa, xb = tlv(der, pos, b)
    if not t then return nil, xa end
    if t ~= 0x30 then return nil, "bad extension" end
    local ot, oa, ob = tlv(der, xa, xb)
    if not ot then return nil, oa end
    if ot ~= 0x06 then return nil, "bad extension id" end
    if ob - oa == 2 and byte(der, oa) == 0x55 and byte(der, oa + 1) == 0x1D
        and byte(der, oa + 2) == 0x11 then
      return san_uri(der, ob + 1, xb)
    end
    pos = xb + 1
  end
  return nil, "no subjectAltName"
end

-- Identity ----------------------------------------------------------------------------------

local SEGMENT = "^[%w%._%-]+$"

-- Splits a Consul service SPIFFE ID into its parts | nil, reason.
function M.parse_spiffe(uri)
  if type(uri) ~= "string" then return nil, "not a string" end
  if #uri > MAX_URI then return nil, "too long" end
  if lower(sub(uri, 1, 9)) ~= "spiffe://" then return nil, "not spiffe" end
  local td, path = match(uri, "^([^/]*)(/.*)$", 10)
  if not td or #td > 255 or not find(td, "^[%w%.%-]+$") then return nil, "bad trust domain" end
  local ap, ns, dc, svc
  ns, dc, svc = match(path, "^/ns/([^/]+)/dc/([^/]+)/svc/([^/]+)$")
  if not ns then
    ap, ns, dc, svc = match(path, "^/ap/([^/]+)/ns/([^/]+)/dc/([^/]+)/svc/([^/]+)$")
  end
  if not ns then return nil, "not a service identity" end
  for _, seg in ipairs({ ap or "default", ns, dc, svc }) do
    if not find(seg, SEGMENT) then return nil, "bad path segment" end
  end
  return { trust_domain = td, ns = ns, dc = dc, svc = svc, partition = ap }
end

-- True when the map's bare service names can describe this identity.
function M.default_tenancy(id)
  return id.ns == "default" and (id.partition == nil or id.partition == "default")
end

-- True when the identity's trust domain is the one the map names (case-insensitive).
function M.trust_domain_ok(id, td)
  return type(td) == "string" and td ~= "" and lower(id.trust_domain) == lower(td)
end

-- Table decision ----------------------------------------------------------------------------

-- Normalises a map value: "allow" | "deny" | "l7", n | nil (absent) | false (unreadable).
local function verdict(v)
  if v == nil then return nil end
  v = lower(match(tostring(v), "^%s*(.-)%s*$"))
  if v == "allow" or v == "deny" then return v end
  local n = tonumber(match(v, "^l7%s+(%d+)$"))
  if n and n >= 1 and n <= L7.MAX_PERMISSIONS then return "l7", n end
  return false
end

-- Decides from state.table: exact source first, then "*", then "@default"; nil means "ask
-- the agent". The table holds every intention a default-tenancy source can match, so a source
-- no row names gets the default Consul computes for Envoy (which, with ACLs off and
-- acl.default_policy = "deny", is deny where the agent's authorize endpoint would allow).
-- Returns the decision ("allow" | "deny" | "l7"), the entry that decided ("exact" |
-- "wildcard" | "default"), its key, and for "l7" the number of permissions.
function M.decide(state, source_svc)
  local t = state and state.table
  if t == nil or type(source_svc) ~= "string" or not find(source_svc, SEGMENT) then return nil end
  local v, n = verdict(t[source_svc])
  if v then return v, "exact", source_svc, n end
  if v == false then return nil end -- an unreadable exact entry is not overridden by "*"
  v, n = verdict(t["*"])
  if v then return v, "wildcard", "*", n end
  if v == false then return nil end
  v = verdict(t["@default"])
  if v == "allow" or v == "deny" then return v, "default", "@default" end
  return nil
end

-- Agent-answer cache ------------------------------------------------------------------------

local Cache = {}
Cache.__index = Cache
local UNSYNCED = {}

-- Creates a per-source cache; opts.ttl (s), opts.now (clock in s), opts.max (entries).
function M.new_cache(opts)
  opts = opts or {}
  return setmetatable({ ttl = opts.ttl or M.CACHE_TTL, now = opts.now or os.time,
    max = opts.max or 4096, entries = {}, size = 0, version = UNSYNCED }, Cache)
end

-- Flushes everything when the map's @version differs from the one the entries belong to.
function Cache:sync(version)
  if version ~= self.version then
    self.entries, self.size, self.version = {}, 0, version
  end
end

-- Returns the cached decision and reason for a source under this @version | nil.
function Cache:get(svc, version)
  self:sync(version)
  local e = self.entries[svc]
  if not e then return nil end
  if self.now() >= e.expires then
    self.entries[svc], self.size = nil, self.size - 1
    return nil
  end
  return e.decision, e.reason
end

-- Stores an agent answer; answers computed under an older @version are dropped.
function Cache:put(svc, version, decision, reason)
  if self.version == UNSYNCED then self:sync(version) end
  if version ~= self.version or (decision ~= "allow" and decision ~= "deny") then return false end
  if not self.entries[svc] then
    if self.size >= self.max then self.entries, self.size = {}, 0 end
    self.size = self.size + 1
  end
  self.entries[svc] = { decision = decision, reason = reason, expires = self.now() + self.ttl }
  return true
end

-- Agent call --------------------------------------------------------------------------------

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

-- Action ------------------------------------------------------------------------------------

local REASON_PREFIX = { exact = "intention-", wildcard = "wildcard-", default = "default-" }

-- Decides what needs no I/O: decision, reason, source uri, id, rule (decision nil: ask the
-- agent; decision "l7": decide per request, with rule the map key and n its permissions).
function M.evaluate(state, der)
  if der == nil or der == "" then return "deny", "no-cert" end
  local uri = M.uri_san(der)
  if not uri then return "deny", "bad-cert" end
  local id = M.parse_spiffe(uri)
  if not id then return "deny", "bad-cert", uri end
  local t = state.table
  if not M.trust_domain_ok(id, t["@trust_domain"]) then
    return "deny", "trust-domain-mismatch", uri
  end
  local target = t["@target"]
  if target == nil or target == "" then return "deny", "no-target", uri end
  if M.default_tenancy(id) then
    local d, kind, key, n = M.decide(state, id.svc)
    if d == "l7" then return "l7", n, uri, id, key end
    if d then return d, REASON_PREFIX[kind] .. d, uri, id, key end
  end
  return nil, nil, uri, id
end

-- Results live in txn variables (this request) and session variables (the connection, which
-- tcp-mode logs read). A decision the table made from an L4 intention is also stamped with the
-- table's @version in `sess.mesh_version`: the config skips this action for further requests
-- on the connection while the map's @version is unchanged, so HTTP keep-alive pays for
-- authorization once, and any intentions change re-authorizes the next request.
local function set_txn_result(txn, decision, reason, rule)
  txn:set_var("txn.mesh_decision", decision)
  txn:set_var("txn.mesh_reason", reason)
  txn:set_var("txn.mesh_rule", rule or "-")
end

local function set_result(txn, decision, reason, rule)
  rule = rule or "-"
  txn:set_var("sess.mesh_decision", decision)
  txn:set_var("sess.mesh_reason", reason)
  txn:set_var("sess.mesh_rule", rule)
  set_txn_result(txn, decision, reason, rule)
end

-- The request as l7.lua reads it; headers are fetched only if a permission asks for one.
local function request_of(txn)
  local headers
  return { path = txn.f:path(), method = txn.f:method(), header = function(name)
    if name == ":authority" then name = "host" end
    if name == ":method" then return txn.f:method() end
    if name == ":path" then return txn.f:path() end
    if not headers then headers = txn.http and txn.http:req_get_headers() or {} end
    local values = headers[name]
    if values == nil then return nil end
    local out, i = {}, 0
    while values[i] ~= nil do out[#out + 1], i = values[i], i + 1 end
    return concat(out, ",")
  end }
end

-- An L7 source: the first permission matching this request decides, else @default. Only this
-- request's (txn) variables are written: the connection keeps "l7" as its decision. The map is
-- read afresh here (the config runs this after normalising the path, and the connection-level
-- decision may be from an earlier request), so a change in between is never half-applied.
local function authorize_l7_txn(deps, txn)
  local state = deps.state
  local svc = txn:get_var("sess.mesh_l7")
  local d, kind, key, n = M.decide(state, svc)
  if d ~= "l7" then
    if d then return set_txn_result(txn, d, REASON_PREFIX[kind] .. d, key) end
    return set_txn_result(txn, "deny", "table-changed", svc)
  end
  if not txn.http then return set_txn_result(txn, "deny", "l7-not-http", key) end
  local perms, err = deps.rules(function(k) return state.table[k] end, state.table["@version"], key, n)
  if not perms then
    if deps.log then deps.log("authorize.lua: intention for " .. key .. ": " .. err) end
    return set_txn_result(txn, "deny", "bad-rule", key)
  end
  local decision, rule, reason = L7.decide(perms, request_of(txn), state.table["@default"])
  set_txn_result(txn, decision, reason, key .. "#" .. rule)
end

local function authorize_txn(deps, txn)
  local state = deps.state
  local decision, reason, uri, id, rule = M.evaluate(state, txn.f:ssl_c_der())
  if uri then txn:set_var("sess.mesh_source", uri) end
  if decision == "l7" then
    -- The connection's decision is "l7" (never "allow"): every request is decided by
    -- authorize_l7 once its path is normalised, and is denied if that never runs.
    txn:set_var("sess.mesh_l7", id.svc)
    txn:set_var("sess.mesh_version", state.table["@version"] or "")
    return set_result(txn, "l7", "l7-pending", rule)
  end
  if decision then
    if uri then txn:set_var("sess.mesh_version", state.table["@version"] or "") end
    return set_result(txn, decision, reason, rule)
  end
  local version = state.table["@version"]
  decision, reason = deps.cache:get(id.svc, version)
  if decision then return set_result(txn, decision, reason, "agent") end
  if not deps.agent then return set_result(txn, "deny", "no-agent") end
  set_result(txn, "deny", "agent-timeout") -- what the config sees if the wait is cut short
  local req = M.agent_request(deps.agent, deps.token, state.table["@target"], uri,
    M.serial_hex(txn.f:ssl_c_serial()))
  local started = deps.now()
  local ok, res = pcall(deps.post, req)
  local cacheable
  decision, reason, cacheable = M.agent_verdict(ok and res or nil, (deps.now() - started) * 1000)
  if cacheable then deps.cache:put(id.svc, version, decision, reason) end
  set_result(txn, decision, reason, "agent")
end

-- Runs fn(deps, txn) so that a Lua error anywhere ends in deny/internal-error (written with
-- `reset`), and is logged.
local function guarded(deps, txn, fn, reset)
  reset(txn, "deny", "internal-error")
  local ok, err = pcall(fn, deps, txn)
  if not ok then
    reset(txn, "deny", "internal-error")
    if deps.log then deps.log("authorize.lua: " .. sub(tostring(err), 1, 200)) end
  end
end

-- Returns the `authorize` action; deps = {state, cache, rules, agent, token, post, now, log},
-- where rules is an L7.new_rule_cache.
function M.new_authorizer(deps)
  return function(txn)
    txn:set_var("sess.mesh_source", "-")
    txn:set_var("sess.mesh_version", "")
    guarded(deps, txn, authorize_txn, set_result)
  end
end

-- Returns the `authorize_l7` action (http-req), run for each request of a connection whose
-- decision `authorize` set to "l7".
function M.new_l7_authorizer(deps)
  return function(txn) guarded(deps, txn, authorize_l7_txn, set_txn_result) end
end

-- Returns the server certificate's service name when its trust domain is ours, else "".
function M.peer_svc(state, der)
  local id = M.parse_spiffe(M.uri_san(der))
  if not id or not M.trust_domain_ok(id, state.table["@trust_domain"]) then return "" end
  return id.svc
end

-- Returns a peer_svc that remembers answers by (serial, issuer, trust domain): a server
-- certificate does not change during a connection, and in HTTP modes the check runs on
-- every response. fetch = {serial(), issuer(), der()}; at most `max` entries, then a reset.
function M.new_peer_cache(state, max)
  local entries, count = {}, 0
  return function(fetch)
    local serial, issuer = fetch.serial(), fetch.issuer()
    if not serial or serial == "" or not issuer then return M.peer_svc(state, fetch.der()) end
    local key = serial .. "\0" .. issuer .. "\0" .. tostring(state.table["@trust_domain"])
    local svc = entries[key]
    if svc then return svc end
    svc = M.peer_svc(state, fetch.der())
    if count >= (max or 1024) then entries, count = {}, 0 end
    entries[key], count = svc, count + 1
    return svc
  end
end

-- The key under which the intentions map remembers a server certificate already checked:
-- its SHA-1 fingerprint as HAProxy's `ssl_s_sha1,hex,concat(@peer)` prints it (uppercase hex).
-- No service name contains "@", so the key never meets a source's row.
function M.peer_key(sha1)
  return (sha1:gsub(".", function(c) return string.format("%02X", c:byte()) end)) .. "@peer"
end

-- What the map remembers for a server certificate: its service when the trust domain is
-- ours, else "!" (which no expected service equals, so its responses stay denied).
function M.learn_peer(state, der)
  local svc = M.peer_svc(state, der)
  return svc ~= "" and svc or "!"
end

-- HAProxy -----------------------------------------------------------------------------------

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function haproxy_now()
  local t = core.now()
  return t.sec + t.usec / 1e6
end

local function register()
  local path = os.getenv("MESHPLATE_INTENTIONS_MAP")
  if not path or path == "" then error("authorize.lua: MESHPLATE_INTENTIONS_MAP is not set") end
  local map = Map.new(path, Map._str)
  local state = { table = setmetatable({}, {
    __index = function(_, key) return map:lookup(key) end,
    __newindex = function() error("the intentions map is read-only") end }) }
  local agent, why = M.parse_agent_url(os.getenv("MESHPLATE_AGENT_URL"))
  if not agent then
    core.log(core.warning, "authorize.lua: agent lookups disabled: " .. why .. "\n")
  end
  -- HAProxy's own regex engine (PCRE2); the renderer already anchored each expression.
  -- Regex.new(re, case_sensitive) returns true and the regex, or false and the reason.
  local compile = function(re)
    local ok, compiled, r = pcall(Regex.new, re, true)
    if not ok then return nil, compiled end
    if not compiled then return nil, r end
    return function(subject) return r:exec(subject) end
  end
  local deps = { state = state, cache = M.new_cache({ now = haproxy_now }), agent = agent,
    rules = L7.new_rule_cache(compile),
    token = M.load_token(os.getenv, read_file), now = haproxy_now,
    post = function(req) return core.httpclient():post(req) end,
    log = function(msg) core.log(core.warning, msg .. "\n") end }
  core.register_action("authorize", { "tcp-req", "http-req" }, M.new_authorizer(deps), 0)
  core.register_action("authorize_l7", { "http-req" }, M.new_l7_authorizer(deps), 0)
  -- HTTP upstreams look a server certificate up by fingerprint in the map (native, per
  -- response) and call this only for one not seen yet: it parses the URI SAN once and adds the
  -- answer to the map, shared by every thread. A reload or a new intentions map starts afresh.
  core.register_action("mesh_learn_peer", { "http-res" }, function(txn)
    local ok, svc = pcall(function()
      local value = M.learn_peer(state, txn.f:ssl_s_der())
      core.set_map(path, M.peer_key(txn.f:ssl_s_sha1()), value)
      return value
    end)
    txn:set_var("txn.mesh_peer", ok and svc or "!")
  end, 0)
  local peer_svc = M.new_peer_cache(state)
  core.register_fetches("mesh_peer_svc", function(txn)
    local ok, svc = pcall(peer_svc, { serial = function() return txn.f:ssl_s_serial() end,
      issuer = function() return txn.f:ssl_s_i_dn() end, der = function() return txn.f:ssl_s_der() end })
    return ok and svc or ""
  end)
end

if type(core) == "table" and type(core.register_action) == "function" then register() end

return M
