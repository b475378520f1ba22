-- wrk script for bench/http.ts's upload-4m scenario: every request is a POST whose body is the
-- file named by UPLOAD_FILE (read once); the figures are reported by report.lua's done().
local f = assert(io.open(os.getenv("UPLOAD_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
dofile(os.getenv("REPORT_LUA"))
