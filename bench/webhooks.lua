-- wrk script: POST a different pre-signed Stripe event with every request.
-- Usage: wrk ... -s bench/webhooks.lua URL -- EVENTS_FILE THREADS
-- EVENTS_FILE has one event per line: the Stripe-Signature header, a tab, the JSON body.
-- Thread k of n sends lines k, k+n, k+2n, ... so no event is sent twice; a thread that has
-- sent all of its events stops, so a run is bounded in count as well as in time.

local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("thread_number", counter)
end

function init(args)
  local path = args[1]
  local threads = tonumber(args[2])
  events = {}
  local line_number = 0
  for line in io.lines(path) do
    if line_number % threads == thread_number - 1 then
      local tab = line:find("\t", 1, true)
      events[#events + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
    end
    line_number = line_number + 1
  end
  next_event = 1
end

function request()
  local event = events[next_event]
  if event == nil then
    wrk.thread:stop()
    event = events[#events] -- at most one repeat per thread: the webhook skips duplicates
  end
  next_event = next_event + 1
  return wrk.format("POST", "/stripe/webhook", {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = event[1],
  }, event[2])
end
