-- cert.lua: the peer's identity, read from its certificate, for lua/authorize.lua.
--
-- Why this file exists: a Consul leaf certificate names its workload only in a SPIFFE URI SAN,
-- and HAProxy 2.6 can neither match URI SANs (verifyhost reads DNS SANs and the CN) nor hand
-- Lua a parsed certificate: `ssl_c_der` and `ssl_s_der` give the raw DER. TLS (`verify
-- required ca-file <consul roots>`) proves that the peer holds a certificate from our CA; this
-- file walks that DER in pure Lua to its first URI SAN (no C module, about 4 µs), splits the
-- SPIFFE id into trust domain, partition, namespace, datacenter and service, and says whether
-- the id belongs to our trust domain and to the tenancy the intentions map's bare service
-- names describe. Malformed input of any kind (truncated, oversized, indefinite or hostile
-- lengths, odd tags, odd URIs) gives nil and a reason; nothing here raises. Pure functions
-- only, so test/lua/cert_spec.lua runs it under plain lua5.3 and lua5.4.

local M = {}

local byte, sub, find, match, lower = string.byte, string.sub, string.find, string.match,
  string.lower

local MAX_DER = 65536
local MAX_URI = 2048

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

-- Returns the subjectAltName extension's body bounds in the extensions [a, b] | nil, err.
local function find_san(der, a, b)
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
      return ob + 1, xb
    end
    pos = xb + 1
  end
  return nil, "no subjectAltName"
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
  a, b = find_san(der, a, b)
  if not a then return nil, b end
  return san_uri(der, a, b)
end

-- Identity ----------------------------------------------------------------------------------

-- One path segment of a service identity; also what a map key must look like to be a source.
M.SEGMENT = "^[%w%._%-]+$"

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
    if not find(seg, M.SEGMENT) then return nil, "bad path segment" end
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

return M
