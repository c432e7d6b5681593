-- POST /introspect (RFC 7662): the relying party (BENCH_BASIC) asks about one of its own
-- access tokens, picked at random from BENCH_INPUT. A token reported inactive is an error.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

local tokens, basic

function init(args)
  tokens = read_lines(env("BENCH_INPUT"))
  basic = env("BENCH_BASIC")
  math.randomseed(os.time() + (id or 0))
end

function request()
  return wrk.format("POST", "/introspect", {
    ["Authorization"] = basic,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, "token_type_hint=access_token&token=" .. tokens[math.random(#tokens)])
end

function response(status, headers, body)
  if status == 200 and not body:find('"active"%s*:%s*true') then
    errors = errors + 1 -- a 200 that says the token is inactive
    codes["inactive"] = (codes["inactive"] or 0) + 1
    return
  end
  count(status)
end
