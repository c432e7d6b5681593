-- POST /token grant_type=refresh_token with rotation. Refresh tokens are single-use, so each
-- thread keeps a pool of live tokens (BENCH_INPUT.<thread id>, one chain per line): a request
-- takes one out, and the new refresh token of each 200 response goes back in. A connection has
-- at most one request in flight, so a pool holding at least one token per connection never
-- runs dry unless requests fail; if it does, the request is sent with a dead token and counted
-- in "starved" (and as an error).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local pool, basic

function init(args)
  pool = read_lines(env("BENCH_INPUT") .. "." .. (id or 0))
  basic = env("BENCH_BASIC")
end

function request()
  local token = table.remove(pool)
  if token == nil then
    starved = starved + 1
    token = "tsso_rt_exhausted"
  end
  return wrk.format("POST", "/token", {
    ["Authorization"] = basic,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  count(status)
  if status == 200 then
    local token = body:match('"refresh_token"%s*:%s*"([^"]+)"')
    if token then table.insert(pool, 1, token) end
  end
end
