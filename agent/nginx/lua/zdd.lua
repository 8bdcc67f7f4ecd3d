-- zdd's traffic switch inside nginx (dynamic mode).
-- The edge agent pushes a generation-numbered traffic document per service into the shared dict
-- through the loopback admin endpoint; the balancer reads it on every request, with no reload.
-- The balancer also counts in-flight requests per backend, so the agent can wait until an old
-- backend has no request left before its instance is stopped.
local balancer = require "ngx.balancer"

local dict = ngx.shared.zdd
local M = {}

-- per-worker cache of parsed documents: service -> { gen, backends, rr }
local cache = {}

local function parse(text)
  if type(text) ~= "string" then return nil, "empty document" end
  local doc = { backends = {} }
  for line in text:gmatch("[^\n]+") do
    local key, rest = line:match("^(%S+)%s*(.*)$")
    if key == "generation" then
      doc.gen = tonumber(rest)
    elseif key == "backend" then
      local track, addr, weight = rest:match("^(%S+)%s+(%S+)%s+(%d+)$")
      if not track then return nil, "bad backend line: " .. line end
      local host, port = addr:match("^%[?([^%]]+)%]?:(%d+)$")
      if not host then return nil, "bad backend address: " .. addr end
      doc.backends[#doc.backends + 1] =
        { track = track, addr = addr, host = host, port = tonumber(port), weight = tonumber(weight) }
    elseif key then
      return nil, "unknown line: " .. line
    end
  end
  if not doc.gen then return nil, "missing generation line" end
  return doc
end

local function current(svc)
  local gen = dict:get("gen:" .. svc)
  if not gen then return nil end
  local c = cache[svc]
  if c and c.gen == gen then return c end
  local doc = parse(dict:get("doc:" .. svc))
  if not doc then return nil end
  local live = {}
  for _, b in ipairs(doc.backends) do
    if b.weight > 0 then live[#live + 1] = b end
  end
  c = { gen = doc.gen, backends = live, rr = c and c.rr or 0 }
  cache[svc] = c
  return c
end

local function store(svc, text, doc)
  -- document first, generation second: a reader that sees the new generation finds the new document
  dict:set("doc:" .. svc, text)
  dict:set("gen:" .. svc, doc.gen)
end

-- init_by_lua (master): restore every service's last document from the file the agent wrote, so
-- traffic survives an nginx restart without the agent.
function M.init(services)
  for _, s in ipairs(services) do
    local f = io.open(s[2], "r")
    if f then
      local text = f:read("*a")
      f:close()
      local doc = parse(text)
      local live = dict:get("gen:" .. s[1])
      if doc and (not live or live < doc.gen) then store(s[1], text, doc) end
    end
  end
end

local function inflight_key(svc, addr) return "inflight:" .. svc .. ":" .. addr end

-- balancer_by_lua: round robin over the backends with weight > 0.
function M.balance(svc, retry)
  local ctx = ngx.ctx
  local c = current(svc)
  if not c or #c.backends == 0 then
    ngx.log(ngx.ERR, "zdd: no backend for service ", svc)
    return ngx.exit(502)
  end
  local n = #c.backends
  local b
  if ctx.zdd_peer then
    -- a retry: only reached when nginx could not use the previous peer; pick another one
    dict:incr(inflight_key(svc, ctx.zdd_peer), -1, 0)
    local failed_peer = ctx.zdd_peer
    ctx.zdd_peer = nil
    for i = 1, n do
      local cand = c.backends[((c.rr + i - 1) % n) + 1]
      if cand.addr ~= failed_peer then b = cand break end
    end
    b = b or c.backends[(c.rr % n) + 1]
  else
    c.rr = (c.rr % n) + 1
    b = c.backends[c.rr]
    if retry and n > 1 then balancer.set_more_tries(1) end
  end
  local ok, err = balancer.set_current_peer(b.host, b.port)
  if not ok then
    ngx.log(ngx.ERR, "zdd: set_current_peer failed: ", err)
    return ngx.exit(502)
  end
  ctx.zdd_peer = b.addr
  dict:incr(inflight_key(svc, b.addr), 1, 0)
  dict:incr("req:" .. svc .. ":" .. b.addr, 1, 0)
end

-- log_by_lua: the request is over; count it out and count errors.
function M.log(svc)
  local peer = ngx.ctx.zdd_peer
  if not peer then return end
  dict:incr(inflight_key(svc, peer), -1, 0)
  local status = ngx.status
  if status >= 500 then dict:incr("err:" .. svc .. ":" .. peer, 1, 0) end
end

local function reply(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "text/plain"
  ngx.say(body)
  return ngx.exit(status)
end

-- The admin endpoint, loopback only:
--   POST /zdd/traffic/SVC   body: a traffic document; applied unless its generation is older
--   GET  /zdd/traffic/SVC   the live generation
--   GET  /zdd/inflight/SVC?addr=A&addr=B   in-flight requests to those backends, summed
--   GET  /zdd/stats/SVC?addr=A   "requests errors inflight" for each address
function M.admin()
  local uri = ngx.var.uri
  local method = ngx.req.get_method()
  local svc = uri:match("^/zdd/traffic/([%w%-]+)$")
  if svc then
    if method == "POST" or method == "PUT" then
      ngx.req.read_body()
      local text = ngx.req.get_body_data()
      local doc, err = parse(text)
      if not doc then return reply(400, "invalid traffic document: " .. (err or "?")) end
      local live = dict:get("gen:" .. svc) or 0
      if doc.gen < live then return reply(409, "stale generation " .. doc.gen .. "; live is " .. live) end
      if doc.gen == live then return reply(200, doc.gen .. " noop") end
      store(svc, text, doc)
      return reply(200, tostring(doc.gen))
    end
    return reply(200, tostring(dict:get("gen:" .. svc) or 0))
  end
  local args = ngx.req.get_uri_args()
  local addrs = args.addr or {}
  if type(addrs) == "string" then addrs = { addrs } end
  svc = uri:match("^/zdd/inflight/([%w%-]+)$")
  if svc then
    local total = 0
    for _, a in ipairs(addrs) do total = total + (dict:get(inflight_key(svc, a)) or 0) end
    return reply(200, tostring(total))
  end
  svc = uri:match("^/zdd/stats/([%w%-]+)$")
  if svc then
    local out = {}
    for _, a in ipairs(addrs) do
      out[#out + 1] = a .. " " .. (dict:get("req:" .. svc .. ":" .. a) or 0) .. " " ..
        (dict:get("err:" .. svc .. ":" .. a) or 0) .. " " .. (dict:get(inflight_key(svc, a)) or 0)
    end
    return reply(200, table.concat(out, "\n"))
  end
  return reply(404, "unknown admin path " .. uri)
end

M._parse = parse
return M
