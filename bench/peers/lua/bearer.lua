-- GET <BENCH_PATH> (userinfo) with a Bearer access token picked at random from BENCH_INPUT.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens, path

function init(args)
  tokens = read_lines(env("BENCH_INPUT"))
  path = env("BENCH_PATH")
  math.randomseed(os.time() + (id or 0))
end

function request()
  return wrk.format("GET", path, {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)],
    ["Accept"] = "application/json",
  })
end

function response(status, headers, body)
  count(status)
end
