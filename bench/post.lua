-- Workload (3): POST /echo with a 4 KiB body; the handlers send the body back.
wrk.method = "POST"
wrk.path = "/echo"
wrk.body = string.rep("abcdefghijklmnop", 256)  -- 4096 bytes
wrk.headers["Content-Type"] = "application/octet-stream"
