-- A fixed form POST (client_credentials, introspection): BENCH_BODY with BENCH_BASIC as the
-- Authorization header, sent over and over to the URL given to wrk. For introspection
-- (BENCH_EXPECT_ACTIVE=1) a 200 that says the token is inactive counts as an error.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

wrk.method = "POST"
wrk.body = os.getenv("BENCH_BODY")
wrk.headers["Authorization"] = os.getenv("BENCH_BASIC")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
local expect_active = os.getenv("BENCH_EXPECT_ACTIVE") == "1"

function response(status, headers, body)
  if expect_active and status == 200 and not body:find('"active"%s*:%s*true') then
    errors = errors + 1
    codes["inactive"] = (codes["inactive"] or 0) + 1
    return
  end
  count(status)
end
