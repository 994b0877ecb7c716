-- authorize.lua: Consul intention checks for the meshplate HAProxy sidecar.
--
-- Why this file exists: HAProxy's TLS proves that a peer holds a certificate from the Connect
-- CA, but not which service it is nor whether an intention lets it in. This file is what
-- HAProxy loads (`lua-load-per-thread <luaDir>/authorize.lua`), and it holds only the actions
-- and their glue; the pure parts sit next to it and are loaded by path, so `--lua-dir` must
-- name the whole folder: lua/cert.lua (DER walk, URI SAN, SPIFFE id, trust domain),
-- lua/decide.lua (the intentions map's decision and the agent-answer cache), lua/agent.lua
-- (the authorize request to the Consul agent, its verdict, a minimal JSON reader) and
-- lua/l7.lua (L7 permissions). Inbound, the `lua.authorize` action reads the client
-- certificate, decides from the intentions map the renderer keeps current (exact name, then
-- `*`, then `@default`), and only when the map has no answer asks the agent through the
-- non-blocking `core.httpclient` (lua/agent.lua says how that wait is bounded). Outbound, the
-- `lua.mesh_peer_svc` fetch (tcp) names the upstream's service so the config can refuse an
-- impostor; HTTP upstreams look the server certificate's fingerprint up in the map and call
-- `lua.mesh_learn_peer` only for one they have not seen. Every failure (malformed DER, odd
-- URI, agent error, timeout, non-200, unparsable body, Lua error) ends in "deny"; nothing
-- here raises.
--
-- Two worlds. Under plain lua5.3 (no global `core`) the file only returns the module table,
-- which the tests drive (test/lua/authorize_spec.lua). Under HAProxy (`lua-load` or
-- `lua-load-per-thread`) it also reads its environment once, opens the map and registers the
-- actions and the fetch. The map is read through the Map object at request time, so runtime
-- `add map`/`set map`/`commit map` apply at once. Sources outside the default
-- namespace/partition skip the map (its keys are bare service names) and are decided by the
-- agent.
--
-- L7 (HTTP-like destinations): a source whose intention carries `Permissions` is marked `l7 <n>`
-- in the map. `authorize` (bounded by inspect-delay, as it may wait for the agent) sets such a
-- connection's decision to "l7", kept like any table decision while @version is unchanged;
-- `lua.authorize_l7`, an http-request action run after the path is normalised, then decides
-- each request by lua/l7.lua (path, methods, headers), in txn variables only. Every result is
-- written to txn variables (this request) and sess variables (the connection, read by tcp-mode
-- logs).

local M = {}

-- The modules sit next to this file; found through this file's own path, which works under
-- HAProxy's lua-load and under plain lua alike.
local here = (debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")) or "./"
local Cert = dofile(here .. "cert.lua")
local Decide = dofile(here .. "decide.lua")
local Agent = dofile(here .. "agent.lua")
local L7 = dofile(here .. "l7.lua")
-- The very instances the actions use, for the specs (test/lua/authorize_spec.lua, l7_spec.lua).
M.Cert, M.Decide, M.Agent, M.L7 = Cert, Decide, Agent, L7

local sub, byte, format, concat = string.sub, string.byte, string.format, table.concat

-- Actions -----------------------------------------------------------------------------------

local REASON_PREFIX = { exact = "intention-", wildcard = "wildcard-", default = "default-" }

-- Decides what needs no I/O: decision, reason, source uri, id, rule (decision nil: ask the
-- agent; decision "l7": decide per request, with rule the map key and n its permissions).
function M.evaluate(state, der)
  if der == nil or der == "" then return "deny", "no-cert" end
  local uri = Cert.uri_san(der)
  if not uri then return "deny", "bad-cert" end
  local id = Cert.parse_spiffe(uri)
  if not id then return "deny", "bad-cert", uri end
  local t = state.table
  if not Cert.trust_domain_ok(id, t["@trust_domain"]) then
    return "deny", "trust-domain-mismatch", uri
  end
  local target = t["@target"]
  if target == nil or target == "" then return "deny", "no-target", uri end
  if Cert.default_tenancy(id) then
    local d, kind, key, n = Decide.decide(state, id.svc)
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
  local d, kind, key, n = Decide.decide(state, svc)
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
  -- What the config sees if the wait is cut short (lua/agent.lua: bounding the agent call).
  set_result(txn, "deny", "agent-timeout")
  local req = Agent.agent_request(deps.agent, deps.token, state.table["@target"], uri,
    Agent.serial_hex(txn.f:ssl_c_serial()))
  local started = deps.now()
  local ok, res = pcall(deps.post, req)
  local cacheable
  decision, reason, cacheable = Agent.agent_verdict(ok and res or nil, (deps.now() - started) * 1000)
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

-- Upstream identity -------------------------------------------------------------------------

-- Returns the server certificate's service name when its trust domain is ours, else "".
function M.peer_svc(state, der)
  local id = Cert.parse_spiffe(Cert.uri_san(der))
  if not id or not Cert.trust_domain_ok(id, state.table["@trust_domain"]) then return "" end
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
  return (sha1:gsub(".", function(c) return format("%02X", byte(c)) end)) .. "@peer"
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
  local agent, why = Agent.parse_agent_url(os.getenv("MESHPLATE_AGENT_URL"))
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
  local deps = { state = state, cache = Decide.new_cache({ now = haproxy_now }), agent = agent,
    rules = L7.new_rule_cache(compile),
    token = Agent.load_token(os.getenv, read_file), now = haproxy_now,
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
