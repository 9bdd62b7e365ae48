-- Workload (2): every request differs in its path, query and one header.
--   GET /user/<n>?q=term<n%97>&page=<n%7>   X-Req-Id: req-<n>
-- The handlers route /user/{id}, read the query field q and the X-Req-Id header, answer JSON.
local n = 0
local headers = {}

request = function()
  n = n + 1
  headers["X-Req-Id"] = "req-" .. n
  return wrk.format("GET", "/user/" .. n .. "?q=term" .. (n % 97) .. "&page=" .. (n % 7), headers)
end
