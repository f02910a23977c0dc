-- One wrk script for every scenario of `make bench`:
--   wrk -t<threads> ... -s scenario.lua <url> -- <scenario> <data file> <threads> <exempt secret> <run id>
-- The data file has one virtual user per line: "token<TAB>item id<TAB>item ETag
-- <TAB>email<TAB>password". Each thread takes its own share of the users and
-- each request the next of them in turn, so every user's token is used and a
-- PATCH never races another on one item (given more users per thread than
-- connections). Scenarios:
--   list    GET /bookmarks/?limit=20          item   GET /items/{id}
--   create  POST /bookmarks/ (unique URLs)    patch  PATCH /items/{id} + If-Match
--   login   POST /auth/token                  mixed  80 % reads, 15 % writes, 5 % logins
-- done() prints one JSON line (prefixed "BENCH ") the harness parses.

local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("thread_id", counter)
    table.insert(threads, thread)
end

local users = {}
local next_user = 0
local sent = 0
local scenario, exempt, run_id

local by_item = {}

function init(args)
    scenario = args[1]
    local thread_count = tonumber(args[3])
    exempt = args[4]
    run_id = args[5] or "run"
    local n = 0
    for line in io.lines(args[2]) do
        n = n + 1
        if n % thread_count == thread_id - 1 then
            local token, item, etag, email, password =
                line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)")
            local user = { token = token, item = item, etag = etag, email = email, password = password }
            table.insert(users, user)
            by_item[item] = user
        end
    end
    math.randomseed(thread_id * 104729)
    if scenario ~= "patch" and scenario ~= "mixed" then response = nil end
end

local function headers(user, extra)
    local h = { ["Authorization"] = "Bearer " .. user.token }
    if exempt and exempt ~= "" then h["X-RateLimit-Exempt"] = exempt end
    for k, v in pairs(extra or {}) do h[k] = v end
    return h
end

local function urlencode(s)
    return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local builders = {}

builders.list = function(user)
    return wrk.format("GET", "/bookmarks/?limit=20", headers(user))
end

builders.item = function(user)
    return wrk.format("GET", "/items/" .. user.item, headers(user))
end

builders.create = function(user)
    -- Unique in this run (thread, counter) and across runs (the run id).
    local body = string.format(
        '{"url":"https://bench.example/%s/%d/%d","title":"Bench page %d","tags":["bench"]}',
        run_id, thread_id, sent, sent)
    return wrk.format("POST", "/bookmarks/", headers(user, { ["Content-Type"] = "application/json" }), body)
end

builders.patch = function(user)
    local body = string.format('{"price":"%d.%02d"}', math.random(1, 9999), math.random(0, 99))
    return wrk.format("PATCH", "/items/" .. user.item,
        headers(user, { ["Content-Type"] = "application/json", ["If-Match"] = user.etag }), body)
end

builders.login = function(user)
    local body = "username=" .. urlencode(user.email) .. "&password=" .. urlencode(user.password)
    local h = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    if exempt and exempt ~= "" then h["X-RateLimit-Exempt"] = exempt end
    return wrk.format("POST", "/auth/token", h, body)
end

builders.mixed = function(user)
    local roll = math.random(1, 100)
    if roll <= 40 then return builders.list(user) end
    if roll <= 80 then return builders.item(user) end
    if roll <= 88 then return builders.create(user) end
    if roll <= 95 then return builders.patch(user) end
    return builders.login(user)
end

function request()
    sent = sent + 1
    next_user = next_user % #users + 1
    return builders[scenario](users[next_user])
end

-- A PATCH answer carries the item's new ETag: the next PATCH of that item
-- (one round of users later) sends it.
function response(status, hdrs, body)
    local etag = hdrs["ETag"] or hdrs["etag"]
    if status == 200 and etag and body then
        local id = body:match('"id":"([%x%-]+)"')
        local user = id and by_item[id]
        if user then user.etag = etag end
    end
end

function done(summary, latency, requests)
    local errors = summary.errors
    print(string.format(
        'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non_2xx":%d,'
            .. '"connect":%d,"read":%d,"write":%d,"timeout":%d}',
        summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
        errors.status, errors.connect, errors.read, errors.write, errors.timeout))
end
