-- wrk script: cycle through the requests listed in a file, one "METHOD<TAB>PATH<TAB>HEADER" a line.
-- PUT requests carry the body read from the second file. Used by bench/run.py.
local requests = {}
local i = 0

function init(args)
  local body = nil
  if args[2] then
    local f = assert(io.open(args[2], "rb"))
    body = f:read("*a")
    f:close()
  end
  for line in io.lines(args[1]) do
    local method, path, header = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
    local headers = {}
    if header and header ~= "" then
      local name, value = header:match("^([^:]+): (.*)$")
      headers[name] = value
    end
    local payload = nil
    if method == "PUT" then
      headers["Content-Type"] = "application/json"
      payload = body
    end
    table.insert(requests, wrk.format(method, path, headers, payload))
  end
  -- Each thread starts at a different place, so connections do not move in lockstep.
  i = math.random(#requests)
end

function request()
  i = i % #requests + 1
  return requests[i]
end
