-- smsguard admission check: one atomic call a gateway makes before each send.
--
-- Call:  EVALSHA <sha1> 0 <key_prefix> <account_id> <api_key_id> <destination> <country>
--        (api_key_id and country may be empty strings; destination is E.164, '+' and digits)
-- Reply: { allowed (1|0), retry_after_ms, reason, scope }
--        reason: no_throttle | within_limit | blocked | rate_limited;
--        scope: the canonical scope that decided (empty string when none did).
--
-- Keys are derived here from the request (the full list is in the README,
-- "Redis key layout"), so the script declares no KEYS: it is meant for a
-- standalone Redis (or a primary), not for Redis Cluster.
--
-- Throttle key <key_prefix>:throttle:<scope> is a hash written by the enforcer:
--   action (limit|block), rate_per_s, expires_at, command_id, ts, reason, alert_id
-- plus the token bucket of a limit, kept here beside the command:
--   tokens (float), bucket_us (Redis server time of the last refill, microseconds).
-- The key itself expires at expires_at (PEXPIREAT), so the bucket goes with it.
-- Two indexes, kept by the enforcer's apply.lua in the same atomic step:
--   <key_prefix>:throttles      sorted set: scope -> expires_at of its command
--   <key_prefix>:prefix_depths  sorted set: prefix digit count -> latest expires_at
-- Needs Redis >= 6.2 (ZMSCORE); scripts replicate by effects there, so writing
-- after TIME is allowed.

local key_prefix = ARGV[1]
local account = ARGV[2] or ''
local api_key = ARGV[3] or ''
local destination = ARGV[4] or ''
local country = ARGV[5] or ''

if not string.match(destination, '^%+%d+$') or #destination > 16 then
  return redis.error_reply('ERR smsguard: destination must be E.164 (+ and 1 to 15 digits)')
end

local escapes = { ['%'] = '%25', ['|'] = '%7C', ['='] = '%3D' }
local function esc(value)
  if not string.find(value, '[%%|=]') then return value end
  return (string.gsub(value, '[%%|=]', escapes))
end

-- Prefix depths (digit counts) some active command uses, deepest first. The
-- store keeps this index (a superset: entries leave when their last command
-- expires), so probing only these depths finds exactly what probing every
-- length of the destination would, with a third of the keys.
local depths = redis.call('ZRANGE', key_prefix .. ':prefix_depths', 0, -1)
for i = 1, #depths do depths[i] = tonumber(depths[i]) end
table.sort(depths, function(x, y) return x > y end)

-- Candidate scopes, most specific first (the first block found decides).
local scopes = {}
local account_part = nil
if account ~= '' then
  account_part = 'account_id=' .. esc(account)
end
for i = 1, #depths do
  local n = depths[i] + 1  -- '+' and the digits
  if n >= 2 and n <= #destination then
    local p = 'prefix=' .. string.sub(destination, 1, n)
    if account_part then scopes[#scopes + 1] = account_part .. '|' .. p end
    scopes[#scopes + 1] = p
  end
end
if api_key ~= '' then
  local k = 'api_key_id=' .. esc(api_key)
  if account_part then scopes[#scopes + 1] = account_part .. '|' .. k end
  scopes[#scopes + 1] = k
end
if country ~= '' then
  local c = 'country=' .. esc(country)
  if account_part then scopes[#scopes + 1] = account_part .. '|' .. c end
  scopes[#scopes + 1] = c
end
if account_part then scopes[#scopes + 1] = account_part end

if #scopes == 0 then
  return { 1, 0, 'no_throttle', '' }
end

-- One ZMSCORE over the store's index (scope -> expires_at) finds which
-- candidates hold a command; the common case (none) ends here.
local found = redis.call('ZMSCORE', key_prefix .. ':throttles', unpack(scopes))
local any = false
for i = 1, #scopes do
  if found[i] then any = true break end
end
if not any then
  return { 1, 0, 'no_throttle', '' }
end

local base = key_prefix .. ':throttle:'
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = now_us / 1000

local buckets = {}     -- limits that would admit: { key, tokens_after_refill }
local deny_scope = nil
local deny_retry = 0
local limit_scope = nil

for i = 1, #scopes do
  -- Index entries of expired commands linger until the next apply prunes them.
  local expires_at = found[i] and tonumber(found[i])
  local h = { false }
  local key = nil
  if expires_at and expires_at > now_ms then
    key = base .. scopes[i]
    h = redis.call('HMGET', key, 'action', 'rate_per_s', 'tokens', 'bucket_us')
  end
  local action = h[1]
  if action == 'block' then
    return { 0, math.ceil(expires_at - now_ms), 'blocked', scopes[i] }
  elseif action == 'limit' then
    local rate = tonumber(h[2]) or 0
    local burst = math.max(1, rate)
    local tokens = tonumber(h[3]) or burst
    local last = tonumber(h[4]) or now_us
    local elapsed = now_us - last
    if elapsed < 0 then elapsed = 0 end
    tokens = math.min(burst, tokens + elapsed * rate / 1000000)
    if tokens < 1 then
      local retry
      if rate > 0 then
        retry = math.ceil((1 - tokens) * 1000 / rate)
      else
        -- A zero rate admits nothing until the command expires.
        retry = math.ceil(expires_at - now_ms)
      end
      if deny_scope == nil or retry > deny_retry then
        deny_scope = scopes[i]
        deny_retry = retry
      end
    else
      buckets[#buckets + 1] = { key, tokens }
      if limit_scope == nil then limit_scope = scopes[i] end
    end
  end
end

if deny_scope then
  -- Nothing is consumed on a deny: the buckets refill lazily from bucket_us.
  return { 0, deny_retry, 'rate_limited', deny_scope }
end
if limit_scope == nil then
  return { 1, 0, 'no_throttle', '' }
end
local stamp = string.format('%.0f', now_us)
for i = 1, #buckets do
  redis.call('HSET', buckets[i][1], 'tokens', string.format('%.6f', buckets[i][2] - 1),
    'bucket_us', stamp)
end
return { 1, 0, 'within_limit', limit_scope }
