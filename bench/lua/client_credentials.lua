-- POST /token grant_type=client_credentials, cycling through the benchmark's confidential
-- clients (BENCH_INPUT: one "Basic ..." Authorization value per line).
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local credentials, n

function init(args)
  credentials = read_lines(env("BENCH_INPUT"))
  n = id or 0
end

function request()
  n = n + 1
  return wrk.format("POST", "/token", {
    ["Authorization"] = credentials[n % #credentials + 1],
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "grant_type=client_credentials")
end

function response(status, headers, body)
  count(status)
end
