-- POST <BENCH_PATH> grant_type=refresh_token with rotation on both sides. Each wrk thread
-- holds the live refresh tokens of its connections (BENCH_INPUT.<thread id>, one chain per
-- connection): a request takes one, and the refresh token of each 200 answer replaces it, so
-- every connection follows a chain of its own and no token is ever sent twice. A connection
-- has one request in flight at a time, so with one token per connection the pool never runs
-- dry unless a request fails; then a dead token is sent and counted in "starved". wrk calls
-- request() once per thread before the run (to check the script): that token is lost, so the
-- harness seeds two spare chains per thread.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local pool, basic, path

function init(args)
  pool = read_lines(env("BENCH_INPUT") .. "." .. (id or 0))
  basic = env("BENCH_BASIC")
  path = env("BENCH_PATH")
end

function request()
  local token = table.remove(pool)
  if token == nil then
    starved = starved + 1
    token = "exhausted"
  end
  return wrk.format("POST", path, {
    ["Authorization"] = basic,
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Accept"] = "application/json",
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  count(status)
  if status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then table.insert(pool, 1, token) end
  end
end
