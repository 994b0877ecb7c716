-- tap.lua: the small TAP harness the Lua specs share (test/lua/*_spec.lua).
--
-- Why this file exists: the specs run under plain lua5.3 and lua5.4 with no test library, and
-- test/lua/authorize.test.ts reads their TAP output. `case` registers a case, `eq` and `ok`
-- fail it with a message naming what differed, and `run` prints the plan and one line per case
-- and exits 0 only when every case passed.

local T = {}
local cases = {}

function T.case(name, fn) cases[#cases + 1] = { name = name, fn = fn } end
function T.fail(msg, level) error(msg, (level or 1) + 1) end
function T.show(v) return type(v) == "string" and string.format("%q", v) or tostring(v) end
function T.eq(got, want, what)
  if got ~= want then T.fail((what or "value") .. ": got " .. T.show(got) .. ", want " .. T.show(want), 2) end
end
function T.ok(v, what) if not v then T.fail(what or "expected a truthy value", 2) end end

function T.run()
  print("1.." .. #cases)
  local failed = 0
  for i, c in ipairs(cases) do
    local okc, err = pcall(c.fn)
    if okc then
      print("ok " .. i .. " - " .. c.name)
    else
      failed = failed + 1
      print("not ok " .. i .. " - " .. c.name)
      print("  # " .. tostring(err):gsub("\n", "\n  # "))
    end
  end
  if failed > 0 then print("# failed " .. failed .. " of " .. #cases) end
  os.exit(failed == 0 and 0 or 1)
end

return T
