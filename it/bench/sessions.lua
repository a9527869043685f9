-- wrk: every request carries one of the pre-made sessions' cookies (file named by SESSION_COOKIES), in turn.
local ids = {}
local i = 0

init = function(args)
  for line in io.lines(os.getenv("SESSION_COOKIES")) do
    ids[#ids + 1] = line
  end
  i = math.random(#ids)
end

request = function()
  i = i + 1
  return wrk.format("GET", nil, { ["Cookie"] = ids[(i % #ids) + 1] })
end
