-- A plain GET of the URL given to wrk (/jwks.json, /.well-known/openid-configuration): no
-- request() function, so wrk sends one pre-built request over and over.
dofile(os.getenv("BENCH_LUA_DIR") .. "/common.lua")

function response(status, headers, body)
  count(status)
end
