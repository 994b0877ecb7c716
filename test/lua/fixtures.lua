-- fixtures.lua: the certificates and seeded randomness the Lua specs share (test/lua/*_spec.lua).
--
-- Why this file exists: cert_spec, authorize_spec and l7_spec all drive the code with the same
-- real Consul certificates (test/fixtures/certs, see its README), and cert_spec and agent_spec
-- both feed it seeded random input that must be the same on every machine. Reading and decoding
-- them in one place keeps the specs about behaviour. Returns a table: ROOT (the repository),
-- FIX (the certificate folder), read(path), pem_certs(pem), prng(seed), random_bytes(rand, n),
-- the real leaf as LEAF_DER and LEAF_URI, its trust domain TD, the CA roots as ROOTS, and
-- load_clean(path), which loads a module and fails if it, or a module it loads, writes a global.

local F = {}

F.ROOT = ((debug.getinfo(1, "S").source:match("^@(.*/)[^/]*$")) or "./") .. "../.."
F.FIX = F.ROOT .. "/test/fixtures/certs/"

function F.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function unbase64(s)
  s = s:gsub("[^%w%+/]", "")
  local out, bits, n = {}, 0, 0
  for i = 1, #s do
    bits, n = bits * 64 + (B64:find(s:sub(i, i), 1, true) - 1), n + 6
    if n >= 8 then
      n = n - 8
      out[#out + 1] = string.char((bits >> n) & 0xff)
      bits = bits & ((1 << n) - 1)
    end
  end
  return table.concat(out)
end

-- Returns the DER of every certificate in a PEM bundle.
function F.pem_certs(pem)
  local ders = {}
  for body in pem:gmatch("%-%-%-%-%-BEGIN CERTIFICATE%-%-%-%-%-(.-)%-%-%-%-%-END CERTIFICATE") do
    ders[#ders + 1] = unbase64(body)
  end
  return ders
end

-- Seeded 64-bit LCG, so the random cases are the same on every machine.
function F.prng(seed)
  local x = seed
  return function(n)
    x = x * 6364136223846793005 + 1442695040888963407
    return ((x >> 33) % n)
  end
end

function F.random_bytes(rand, len)
  local t = {}
  for i = 1, len do t[i] = string.char(rand(256)) end
  return table.concat(t)
end

-- Loads the Lua file at path in an environment that refuses new globals, and fails too when
-- _G gained a key meanwhile (modules it loads with dofile run in _G); returns what it returns.
function F.load_clean(path)
  local before = {}
  for k in pairs(_G) do before[k] = true end
  local sandbox = setmetatable({}, { __index = _G,
    __newindex = function(_, k) error("global written: " .. tostring(k)) end })
  local mod = assert(loadfile(path, "t", sandbox))()
  for k in pairs(_G) do
    if not before[k] then error("global written by a loaded module: " .. tostring(k), 2) end
  end
  return mod
end

F.LEAF_DER = F.read(F.FIX .. "consul-leaf-web.der")
F.LEAF_URI = F.read(F.FIX .. "consul-leaf-web.uri"):match("^%s*(.-)%s*$")
F.TD = F.LEAF_URI:match("^spiffe://([^/]+)/")
F.ROOTS = F.pem_certs(F.read(F.FIX .. "consul-roots.pem"))

return F
