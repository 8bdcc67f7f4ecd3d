-- zdd's traffic switch inside nginx (dynamic mode).
-- The edge agent pushes a generation-numbered traffic document per service into the shared dict
-- through the loopback admin endpoint; the balancer reads it on every request, with no reload.
-- The balancer also counts in-flight requests per backend, so the agent can wait until an old
-- backend has no request left before its instance is stopped.
local balancer = require "ngx.balancer"

local dict = ngx.shared.zdd
-- backends the balancer ejected: "SVC ADDR" -> when (ngx.now()); its own dict, so the prober's
-- scan of its keys never walks the counters
local down = ngx.shared.zdd_down
local M = {}
-- per service, from init: the health check the prober asks an ejected backend
local health = {}

-- per-worker cache of parsed documents: service -> { gen, backends, rr }
local cache = {}

local function parse(text)
  if type(text) ~= "string" then return nil, "empty document" end
  local doc = { backends = {}, primary = "stable" }
  for line in text:gmatch("[^\n]+") do
    local key, rest = line:match("^(%S+)%s*(.*)$")
    if key == "generation" then
      doc.gen = tonumber(rest)
    elseif key == "primary" then
      doc.primary = rest:match("^([%w%-]+)$")
      if not doc.primary then return nil, "bad primary line: " .. line end
    elseif key == "preview" then
      doc.preview = rest:match("^([%w%-]+)$")
      if not doc.preview then return nil, "bad preview line: " .. line end
    elseif key == "newest" then
      -- long-lived connections (WebSocket, SSE) prefer backends of this version when a track mixes
      -- versions (a rolling rollout half way): a client that reconnects is not sent to an old
      -- instance that will close it again
      doc.newest = rest:match("^(%S+)$")
    elseif key == "split" then
      local track, pct = rest:match("^([%w%-]+)%s+(%d+)$")
      if not track or tonumber(pct) > 100 then return nil, "bad split line: " .. line end
      doc.split = { track = track, pct = tonumber(pct) }
    elseif key == "backend" then
      local track, addr, weight, version = rest:match("^([%w%-]+)%s+(%S+)%s+(%d+)%s*(%S*)$")
      if not track then return nil, "bad backend line: " .. line end
      local host, port = addr:match("^%[?([^%]]+)%]?:(%d+)$")
      if not host then return nil, "bad backend address: " .. addr end
      doc.backends[#doc.backends + 1] =
        { track = track, addr = addr, host = host, port = tonumber(port), weight = tonumber(weight), version = version }
    elseif key then
      return nil, "unknown line: " .. line
    end
  end
  if not doc.gen then return nil, "missing generation line" end
  return doc
end

-- The parsed live document of a service, per worker: its tracks, each with the backends that
-- take traffic (weight > 0) and a round-robin position kept across generations.
local function current(svc)
  local gen = dict:get("gen:" .. svc)
  if not gen then return nil end
  local c = cache[svc]
  if c and c.gen == gen then return c end
  local doc = parse(dict:get("doc:" .. svc))
  if not doc then return nil end
  local tracks = {}
  for _, b in ipairs(doc.backends) do
    if b.weight > 0 then
      local t = tracks[b.track]
      if not t then
        t = { backends = {}, newest = {}, rr = c and c.tracks[b.track] and c.tracks[b.track].rr or 0 }
        tracks[b.track] = t
      end
      t.backends[#t.backends + 1] = b
      if doc.newest and b.version == doc.newest then t.newest[#t.newest + 1] = b end
    end
  end
  -- a track whose backends all run one version needs no preference
  for _, t in pairs(tracks) do
    if #t.newest == #t.backends then t.newest = {} end
  end
  c = { gen = doc.gen, tracks = tracks, primary = doc.primary, preview = doc.preview, split = doc.split }
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
    health[s[1]] = { path = s[3] or "/", status = tonumber(s[4]) or 200 }
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
-- open long-lived connections (WebSocket upgrades, server-sent event streams) per backend
local function ll_key(svc, addr) return "ll:" .. svc .. ":" .. addr end

-- A request that holds its connection open: a WebSocket upgrade, or a client asking for an event stream.
local function long_lived()
  local up = ngx.var.http_upgrade
  if up and up:lower() == "websocket" then return true end
  local accept = ngx.var.http_accept
  return accept ~= nil and accept:find("text/event-stream", 1, true) ~= nil
end

-- Passive ejection: a backend that refused or reset a connection takes no new request until the
-- prober's health check lets it back.
local function eject(svc, addr, why)
  local ok = down:add(svc .. " " .. addr, ngx.now())
  if ok then ngx.log(ngx.WARN, "zdd: ejected ", svc, " backend ", addr, " (", why, ")") end
end

-- The names a client may ask for in X-Zdd-Track or the zdd_track cookie, whatever the strategy
-- named its tracks: "stable" is the track the live listener serves, "canary" the split's track,
-- "preview" the preview listener's. A track's own name (a colour) works too.
local function alias(c, name)
  if name == "stable" then return c.primary end
  if name == "canary" and c.split then return c.split.track end
  if name == "preview" and c.preview then return c.preview end
  return name
end

-- Which track serves this request:
--   1. a track forced by the X-Zdd-Track header or the zdd_track cookie (for testing), if it has
--      backends; a name that matches no track is ignored, and counted (unknown-track:SVC);
--   2. on the preview listener, the preview track;
--   3. with a split, clients whose key hashes below the split's percent go to its track: the key is
--      the zdd_key cookie when present, else address and user agent, so a client keeps its track
--      while the share grows;
--   4. the primary track.
local function pick_track(svc, c)
  local asked = ngx.var.http_x_zdd_track or ngx.var.cookie_zdd_track
  if asked and asked ~= "" then
    local forced = alias(c, asked)
    if c.tracks[forced] then return forced end
    dict:incr("unknown-track:" .. svc, 1, 0)
  end
  if ngx.var.zdd_listener == "preview" and c.preview and c.tracks[c.preview] then return c.preview end
  local split = c.split
  if split and split.pct > 0 and c.tracks[split.track] then
    if split.pct >= 100 then return split.track end
    -- the client's key: its cookie, else address and user agent (render.ts)
    local key = ngx.var.zdd_client_key
    if not key or key == "" then key = (ngx.var.remote_addr or "") .. "|" .. (ngx.var.http_user_agent or "") end
    if ngx.crc32_long(key) % 100 < split.pct then return split.track end
  end
  return c.primary
end

-- balancer_by_lua: round robin over the chosen track's backends with weight > 0.
function M.balance(svc, retry)
  local ctx = ngx.ctx
  local c = current(svc)
  if not c then
    ngx.log(ngx.ERR, "zdd: no traffic document for service ", svc)
    return ngx.exit(502)
  end
  -- a retry keeps the request's track, unless a newer generation removed it meanwhile
  local track = ctx.zdd_track
  if not track or not c.tracks[track] then track = pick_track(svc, c) end
  local t = c.tracks[track]
  if not t then
    ngx.log(ngx.ERR, "zdd: no backend for service ", svc, " track ", track)
    return ngx.exit(502)
  end
  local n = #t.backends
  local b
  if ctx.zdd_peer then
    -- a retry: only reached when nginx could not use the previous peer (it refused or reset the
    -- connection): eject it, and pick another one that is not ejected
    dict:incr(inflight_key(svc, ctx.zdd_peer), -1, 0)
    if ctx.zdd_ll then dict:incr(ll_key(svc, ctx.zdd_peer), -1, 0) end
    local failed_peer = ctx.zdd_peer
    ctx.zdd_peer = nil
    eject(svc, failed_peer, "retry")
    for i = 1, n do
      local cand = t.backends[((t.rr + i - 1) % n) + 1]
      if cand.addr ~= failed_peer and not down:get(svc .. " " .. cand.addr) then b = cand break end
    end
    b = b or t.backends[(t.rr % n) + 1]
  else
    if ctx.zdd_ll == nil then ctx.zdd_ll = long_lived() end
    -- a long-lived connection goes to the newest version when the track mixes versions: to its
    -- backend with the fewest open, as long as that one holds no more than the track's average
    -- (one new instance never takes every reconnect of a fleet)
    local m = #t.newest
    if ctx.zdd_ll and m > 0 then
      local total = 0
      for _, x in ipairs(t.backends) do total = total + (dict:get(ll_key(svc, x.addr)) or 0) end
      local least
      for _, cand in ipairs(t.newest) do
        local open = dict:get(ll_key(svc, cand.addr)) or 0
        if not down:get(svc .. " " .. cand.addr) and (not least or open < least) then b, least = cand, open end
      end
      if b and least * n > total then b = nil end
    end
    -- round robin over the backends that are not ejected; if every one is, over all of them
    -- (an ejection never turns a working pool into certain 502s)
    for _ = 1, (b and 0 or n) do
      t.rr = (t.rr % n) + 1
      local cand = t.backends[t.rr]
      if not down:get(svc .. " " .. cand.addr) then b = cand break end
    end
    if not b then
      t.rr = (t.rr % n) + 1
      b = t.backends[t.rr]
    end
    if retry and n > 1 then balancer.set_more_tries(1) end
  end
  local ok, err = balancer.set_current_peer(b.host, b.port)
  if not ok then
    ngx.log(ngx.ERR, "zdd: set_current_peer failed: ", err)
    return ngx.exit(502)
  end
  ctx.zdd_peer = b.addr
  ctx.zdd_track = track
  dict:incr(inflight_key(svc, b.addr), 1, 0)
  if ctx.zdd_ll then dict:incr(ll_key(svc, b.addr), 1, 0) end
  dict:incr("req:" .. svc .. ":" .. b.addr, 1, 0)
end

-- latency histogram bounds in ms (lib/analysis.ts BUCKETS_MS); one more bucket for slower
local BOUNDS = { 1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000, 5000, 10000 }
local NBUCKETS = #BOUNDS + 1

-- log_by_lua: the request is over; count it out, and count it per track and backend for analysis.
function M.log(svc)
  local ctx = ngx.ctx
  local peer = ctx.zdd_peer
  if not peer then return end
  dict:incr(inflight_key(svc, peer), -1, 0)
  if ctx.zdd_ll then dict:incr(ll_key(svc, peer), -1, 0) end
  local status = ngx.status
  -- a WebSocket (101) or an event stream that ended: counted open and closed (the ll: gauge), not
  -- as a request whose latency is its whole life
  if ctx.zdd_ll and status < 500 then return end
  -- the last peer failed without sending a response header (refused, reset, timed out): eject it
  if status == 502 or status == 504 then
    local ht = ngx.var.upstream_header_time or ""
    if ht:match("[^,%s]+$") == "-" or ht == "" then eject(svc, peer, "no response") end
  end
  local failed = status >= 500
  if failed then dict:incr("err:" .. svc .. ":" .. peer, 1, 0) end
  local pair = svc .. "|" .. (ctx.zdd_track or "?") .. "|" .. peer
  local n = dict:incr("n:" .. pair, 1, 0)
  -- first request of this track and backend: index it once (add succeeds in one worker only)
  if n == 1 and dict:add("pidx:" .. pair, true) then
    local k = dict:incr("npairs:" .. svc, 1, 0)
    dict:set("pair:" .. svc .. ":" .. k, (ctx.zdd_track or "?") .. " " .. peer)
  end
  if failed then dict:incr("e:" .. pair, 1, 0) end
  local ms = (ngx.now() - ngx.req.start_time()) * 1000
  local i = NBUCKETS
  for k = 1, #BOUNDS do
    if ms <= BOUNDS[k] then i = k break end
  end
  dict:incr("h:" .. pair .. "|" .. i, 1, 0)
end

-- header_filter_by_lua: a client without the key cookie gets one, beside any the app sets
function M.key_cookie(name, rest)
  if ngx.var["cookie_" .. name] then return end
  local mine = name .. "=" .. ngx.var.request_id .. rest:sub(#name + 2)
  local cur = ngx.header["Set-Cookie"]
  if cur == nil then
    ngx.header["Set-Cookie"] = mine
  elseif type(cur) == "table" then
    cur[#cur + 1] = mine
    ngx.header["Set-Cookie"] = cur
  else
    ngx.header["Set-Cookie"] = { cur, mine }
  end
end

-- "TRACK ADDR requests errors b1 … bN" for every track and backend the service has served
local function metrics(svc)
  local out = {}
  for k = 1, dict:get("npairs:" .. svc) or 0 do
    local entry = dict:get("pair:" .. svc .. ":" .. k)
    if entry then
      local track, addr = entry:match("^(%S+) (%S+)$")
      local pair = svc .. "|" .. track .. "|" .. addr
      local row = { track, addr, dict:get("n:" .. pair) or 0, dict:get("e:" .. pair) or 0 }
      for i = 1, NBUCKETS do row[#row + 1] = dict:get("h:" .. pair .. "|" .. i) or 0 end
      out[#out + 1] = table.concat(row, " ")
    end
  end
  return table.concat(out, "\n")
end

-- Active probing: every half second one worker (whichever takes the lock) asks each ejected
-- backend the service's health check; an answer with the expected status lets it back. A backend
-- no longer in the service's document is forgotten.
local function probe_one(svc, addr)
  local host, port = addr:match("^%[?([^%]]+)%]?:(%d+)$")
  local h = health[svc] or { path = "/", status = 200 }
  local sock = ngx.socket.tcp()
  sock:settimeout(500)
  local ok = sock:connect(host, tonumber(port))
  if not ok then return false end
  sock:send("GET " .. h.path .. " HTTP/1.0\r\nHost: zdd-probe\r\nUser-Agent: zdd-edge-probe\r\n\r\n")
  local line = sock:receive("*l")
  sock:close()
  local code = line and tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
  return code == h.status
end

local function probe_key(key)
  local svc, addr = key:match("^(%S+) (%S+)$")
  if not svc then return end
  local c = current(svc)
  local listed = false
  for _, t in pairs(c and c.tracks or {}) do
    for _, b in ipairs(t.backends) do if b.addr == addr then listed = true end end
  end
  if not listed then
    down:delete(key)
  elseif probe_one(svc, addr) then
    down:delete(key)
    ngx.log(ngx.WARN, "zdd: ", svc, " backend ", addr, " passed its health check; back in the pool")
  end
end

-- one round at a time across workers: the lock is held for the whole round (its expiry only
-- guards against a worker that died holding it). The backends are probed 64 side by side at a
-- time, at most 512 a round, starting where the last round stopped.
local function probe_all()
  if not down:add("probe-lock", true, 10) then return end
  local keys = {}
  for _, key in ipairs(down:get_keys(0)) do
    if key:find(" ", 1, true) then keys[#keys + 1] = key end
  end
  local n = #keys
  if n > 0 then
    local from = (down:incr("probe-from", 0, 0) or 0) % n
    local count = math.min(n, 512)
    local i = 0
    while i < count do
      local threads = {}
      for k = i, math.min(count, i + 64) - 1 do
        threads[#threads + 1] = ngx.thread.spawn(probe_key, keys[((from + k) % n) + 1])
      end
      for _, th in ipairs(threads) do ngx.thread.wait(th) end
      i = i + 64
    end
    down:set("probe-from", (from + count) % n)
  end
  down:delete("probe-lock")
end

-- init_worker_by_lua
function M.worker()
  ngx.timer.every(0.5, function(premature)
    if premature then return end
    local ok, err = pcall(probe_all)
    if not ok then
      -- only the worker holding the round's lock gets this far
      down:delete("probe-lock")
      ngx.log(ngx.ERR, "zdd: prober: ", err)
    end
  end)
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
--   GET  /zdd/inflight/SVC?addr=A&addr=B   in-flight requests to those backends, summed (long-lived included)
--   GET  /zdd/longlived/SVC?addr=A&addr=B  open long-lived connections (WebSocket, SSE) to them, summed
--   GET  /zdd/gauges/SVC    "ADDR inflight longlived" per backend of the live document, and "unknown-track N"
--   GET  /zdd/stats/SVC?addr=A   "requests errors inflight" for each address
--   GET  /zdd/metrics/SVC   "TRACK ADDR requests errors b1 … bN" per track and backend (cumulative)
--   GET  /zdd/ejected/SVC   "ADDR SINCE" per backend ejected now (SINCE: seconds since the epoch)
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
      -- a track and backend that join the traffic start counting from zero: a colour or a canary
      -- that reuses a slot's address never inherits an earlier version's record
      local before = {}
      local old = parse(dict:get("doc:" .. svc))
      for _, b in ipairs(old and old.backends or {}) do before[b.track .. "|" .. b.addr] = true end
      for _, b in ipairs(doc.backends) do
        if not before[b.track .. "|" .. b.addr] then
          -- a backend the coordinator (re)adds was health-gated by its agent: not ejected
          down:delete(svc .. " " .. b.addr)
          local pair = svc .. "|" .. b.track .. "|" .. b.addr
          dict:delete("n:" .. pair)
          dict:delete("e:" .. pair)
          for i = 1, NBUCKETS do dict:delete("h:" .. pair .. "|" .. i) end
        end
      end
      store(svc, text, doc)
      return reply(200, tostring(doc.gen))
    end
    return reply(200, tostring(dict:get("gen:" .. svc) or 0))
  end
  local args = ngx.req.get_uri_args()
  local addrs = args.addr or {}
  if type(addrs) == "string" then addrs = { addrs } end
  -- a sum over the given backends: requests in flight, or open long-lived connections
  local gauge, gsvc = uri:match("^/zdd/(%l+)/([%w%-]+)$")
  local key_of = ({ inflight = inflight_key, longlived = ll_key })[gauge or ""]
  if key_of then
    local total = 0
    for _, a in ipairs(addrs) do total = total + (dict:get(key_of(gsvc, a)) or 0) end
    return reply(200, tostring(total))
  end
  -- "ADDR inflight longlived" per backend of the live document, then "unknown-track N"
  svc = uri:match("^/zdd/gauges/([%w%-]+)$")
  if svc then
    local out = {}
    local doc = parse(dict:get("doc:" .. svc))
    for _, b in ipairs(doc and doc.backends or {}) do
      out[#out + 1] = b.addr .. " " .. (dict:get(inflight_key(svc, b.addr)) or 0) .. " " .. (dict:get(ll_key(svc, b.addr)) or 0)
    end
    out[#out + 1] = "unknown-track " .. (dict:get("unknown-track:" .. svc) or 0)
    return reply(200, table.concat(out, "\n"))
  end
  svc = uri:match("^/zdd/ejected/([%w%-]+)$")
  if svc then
    local out = {}
    for _, key in ipairs(down:get_keys(0)) do
      local s2, addr = key:match("^(%S+) (%S+)$")
      if s2 == svc then out[#out + 1] = addr .. " " .. string.format("%.3f", down:get(key) or 0) end
    end
    return reply(200, table.concat(out, "\n"))
  end
  svc = uri:match("^/zdd/metrics/([%w%-]+)$")
  if svc then return reply(200, metrics(svc)) end
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
