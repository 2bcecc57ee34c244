-- One wrk scenario, configured through the environment (bench/run sets these):
--   WRK_PATH    request path; "{id}" in it is replaced, per request, by a random id of WRK_IDS
--   WRK_METHOD  GET (default), POST, PATCH...
--   WRK_TOKEN   access token sent as "Authorization: Bearer <token>" (optional)
--   WRK_BODY    JSON request body, sent with "Content-Type: application/json" (optional);
--               per request, "{n}" in it becomes the request's number and "{priority}" the
--               next of low, medium, high, so that every write really changes its task
--   WRK_IDS     comma-separated ids for "{id}"
--   WRK_RESULT  file that done() writes the results to, as one JSON object
--   WRK_MIX     set for scenario m, the mixed workload: a file of lines `user_id token task_id
--               ...` (bench/seed.py writes it). Each request is then from a random one of these
--               users and, at random, 50 % GET WRK_PATH (the list), 10 % GET WRK_MIX_FILTERED,
--               15 % GET one of that user's tasks, 20 % PATCH one of them (a new title each
--               time and the next priority: always a real change) and 5 % POST a task; WRK_TOKEN,
--               WRK_BODY and WRK_IDS are not used.
-- Every response that is not 2xx is counted (per status) by response(); the first one's
-- status and body are kept so that a failing scenario says why.

local path = assert(os.getenv("WRK_PATH"), "WRK_PATH is not set")
local token = os.getenv("WRK_TOKEN") or ""
local body = os.getenv("WRK_BODY") or ""

wrk.method = os.getenv("WRK_METHOD") or "GET"
wrk.path = path
if token ~= "" then
   wrk.headers["Authorization"] = "Bearer " .. token
end
if body ~= "" then
   wrk.body = body
   wrk.headers["Content-Type"] = "application/json"
end

local priorities = {"low", "medium", "high"}
local mix_file = os.getenv("WRK_MIX") or ""
local prefix, suffix = path:match("^(.-){id}(.*)$")
local templated = body:find("{n}", 1, true) or body:find("{priority}", 1, true)
if mix_file ~= "" then
   local filtered = assert(os.getenv("WRK_MIX_FILTERED"), "WRK_MIX_FILTERED is not set")
   local users = {}
   for line in io.lines(mix_file) do
      local fields = {}
      for field in line:gmatch("%S+") do
         fields[#fields + 1] = field
      end
      if #fields > 0 then
         assert(#fields >= 3, "WRK_MIX: a line without task ids: " .. line)
         local ids = {}
         for i = 3, #fields do
            ids[#ids + 1] = fields[i]
         end
         local bearer = "Bearer " .. fields[2]
         users[#users + 1] = {
            ids = ids,
            read = {Authorization = bearer},
            write = {Authorization = bearer, ["Content-Type"] = "application/json"},
         }
      end
   end
   assert(#users > 0, "WRK_MIX names no users: " .. mix_file)
   local collection = path:match("^[^?]*") -- /api/v1/tasks
   local started = os.time()
   local n = 0

   function request()
      n = n + 1
      local user = users[math.random(#users)]
      local pick = math.random(100)
      if pick <= 50 then
         return wrk.format("GET", path, user.read)
      elseif pick <= 60 then
         return wrk.format("GET", filtered, user.read)
      end
      local task = collection .. "/" .. user.ids[math.random(#user.ids)]
      if pick <= 75 then
         return wrk.format("GET", task, user.read)
      end
      -- unique: the run's start second, the wrk thread, and its request's number
      local title = string.format("bench m%d-%d-%d", started, thread_number or 0, n)
      if pick <= 95 then
         local change = string.format('{"title": "%s", "priority": "%s"}', title,
            priorities[n % 3 + 1])
         return wrk.format("PATCH", task, user.write, change)
      end
      return wrk.format("POST", collection, user.write, string.format('{"title": "%s"}', title))
   end
elseif prefix or templated then
   local ids = {}
   for id in (os.getenv("WRK_IDS") or ""):gmatch("%d+") do
      ids[#ids + 1] = id
   end
   assert(not prefix or #ids > 0, "WRK_PATH has {id} but WRK_IDS is empty")
   local n = 0

   function request()
      n = n + 1
      local this_path = path
      if prefix then
         this_path = prefix .. ids[math.random(#ids)] .. suffix
      end
      local this_body = nil
      if templated then
         this_body = body:gsub("{n}", tostring(n)):gsub("{priority}", priorities[n % 3 + 1])
      end
      return wrk.format(nil, this_path, nil, this_body)
   end
end

-- Per-thread state (each wrk thread runs its own copy of this script).
non2xx = 0
statuses = {}
first_bad = ""

local threads = {}

function setup(thread)
   thread:set("thread_number", #threads + 1)
   threads[#threads + 1] = thread
end

function init(args)
   math.randomseed(os.time() * 100 + (thread_number or 0))
end

function response(status, headers, response_body)
   if status < 200 or status > 299 then
      non2xx = non2xx + 1
      local key = tostring(status)
      statuses[key] = (statuses[key] or 0) + 1
      if first_bad == "" then
         first_bad = key .. " " .. string.sub(response_body or "", 1, 500)
      end
   end
end

local function json_string(text)
   text = text:gsub('[%c"\\]', function(char)
      if char == '"' then return '\\"' end
      if char == "\\" then return "\\\\" end
      return string.format("\\u%04x", char:byte())
   end)
   return '"' .. text .. '"'
end

function done(summary, latency, requests)
   local total_non2xx, by_status, sample = 0, {}, ""
   for _, thread in ipairs(threads) do
      total_non2xx = total_non2xx + (thread:get("non2xx") or 0)
      for status, count in pairs(thread:get("statuses") or {}) do
         by_status[status] = (by_status[status] or 0) + count
      end
      local bad = thread:get("first_bad") or ""
      if sample == "" then sample = bad end
   end
   local status_parts = {}
   for status, count in pairs(by_status) do
      status_parts[#status_parts + 1] = json_string(status) .. ": " .. count
   end
   local errors = summary.errors
   local fields = {
      '"duration_us": ' .. summary.duration,
      '"requests": ' .. summary.requests,
      '"bytes": ' .. summary.bytes,
      '"rps": ' .. string.format("%.2f", summary.requests / (summary.duration / 1e6)),
      '"latency_us": {"mean": ' .. string.format("%.1f", latency.mean)
         .. ', "p50": ' .. latency:percentile(50)
         .. ', "p90": ' .. latency:percentile(90)
         .. ', "p99": ' .. latency:percentile(99)
         .. ', "max": ' .. latency.max .. "}",
      '"socket_errors": {"connect": ' .. errors.connect .. ', "read": ' .. errors.read
         .. ', "write": ' .. errors.write .. ', "timeout": ' .. errors.timeout .. "}",
      '"wrk_status_errors": ' .. errors.status,
      '"non2xx": ' .. total_non2xx,
      '"non2xx_by_status": {' .. table.concat(status_parts, ", ") .. "}",
      '"first_non2xx": ' .. json_string(sample),
   }
   local out = assert(io.open(assert(os.getenv("WRK_RESULT"), "WRK_RESULT is not set"), "w"))
   out:write("{" .. table.concat(fields, ", ") .. "}\n")
   out:close()
end
