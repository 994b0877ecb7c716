-- decide.lua: who may connect, as the intentions map says, and the agent's answers remembered.
--
-- Why this file exists: the renderer keeps an intentions map current (templates/haproxy/
-- intentions.map.njk) that holds every intention a source in the default namespace and
-- partition can match: one row per source service (`allow`, `deny`, or `l7 <n>` for an
-- intention with n HTTP permissions), `*` for the wildcard intention, and `@default` for what
-- Consul does with a source no intention names. Deciding from that table needs no I/O and
-- decides almost every connection; only a source the table cannot decide goes to the Consul
-- agent, and the answer is kept per source for 30 s or until the map's `@version` changes, so
-- an intentions change is never hidden by an old answer. Pure functions only (the caller
-- passes the table and the clock), so test/lua/decide_spec.lua runs it under plain lua5.3 and
-- lua5.4. lua/authorize.lua turns the decision into HAProxy variables.

local M = {}

-- l7.lua bounds the permissions a row may announce, and cert.lua says what a service name
-- looks like; both sit next to this file and are found through its own path.
local here = (debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")) or "./"
local L7 = dofile(here .. "l7.lua")
local SEGMENT = dofile(here .. "cert.lua").SEGMENT

local find, match, lower = string.find, string.match, string.lower

M.CACHE_TTL = 30

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

return M
