-- wrk: one connection per thread. Each thread walks its own share of the pre-made sessions in turn
-- and, like a browser, keeps the latest cookie each response sets (the token rotates).
local created = 0

function setup(thread)
  thread:set("id", created)
  created = created + 1
end

local cookies = {}
local current = 0

function init(args)
  local threads = tonumber(os.getenv("THREADS"))
  local i = 0
  for line in io.lines(os.getenv("SESSION_COOKIES")) do
    if i % threads == id then
      cookies[#cookies + 1] = line
    end
    i = i + 1
  end
end

function request()
  current = current % #cookies + 1
  return wrk.format("GET", nil, { ["Cookie"] = cookies[current] })
end

function response(status, headers, body)
  for name, value in pairs(headers) do
    -- header names are case-insensitive (HAProxy forwards them in lower case)
    if name:lower() == "set-cookie" then
      cookies[current] = value:match("^([^;]+)")
    end
  end
end
