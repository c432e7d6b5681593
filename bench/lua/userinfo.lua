-- GET /userinfo with a Bearer access token picked at random from BENCH_INPUT (access tokens of
-- people who logged in through the authorization-code flow, scope openid profile email).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens

function init(args)
  tokens = read_lines(env("BENCH_INPUT"))
  math.randomseed(os.time() + (id or 0))
end

function request()
  return wrk.format("GET", "/userinfo", {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
  })
end

function response(status, headers, body)
  count(status)
end
