-- smsguard throttle store: apply one verified sms.throttle command, exactly once.
--
-- KEYS[1] <key_prefix>:throttle:<scope>   the scope's command (hash, see admission.lua)
-- KEYS[2] <key_prefix>:applied:<command_id> idempotency marker
-- KEYS[3] <key_prefix>:throttles           index: sorted set scope -> expires_at
-- KEYS[4] <key_prefix>:offsets             hash: "<topic>:<partition>" -> next offset applied
-- KEYS[5] <key_prefix>:prefix_depths       index: prefix digit count -> latest expires_at
-- ARGV    command_id, action, rate_per_s, expires_at, ts, reason, alert_id,
--         marker_retention_ms, scope, prefix_digits ('' when the scope has no prefix),
--         offset_field ('' when not from Kafka), next_offset, expected_offset
--         (the watermark the enforcer last saw for the partition; '' = do not check)
-- Reply   { status, detail }; status is one of
--         applied | released | release_noop | duplicate | stale | expired | lost
--         lost: the watermark is missing or behind expected_offset, i.e. this Redis
--         lost records it had applied; nothing was done, detail = its watermark.
--
-- The marker is set NX in the same script as the change, so a redelivered
-- command id does nothing, whatever happened in between. The offset watermark
-- moves in the same step, so it says exactly which records this Redis holds:
-- after a restart without persistence or a failover to a lagging replica it is
-- missing or behind, and the enforcer re-reads from there.

local command_id = ARGV[1]
local action = ARGV[2]
local rate = tonumber(ARGV[3]) or 0
local expires_at = tonumber(ARGV[4])
local ts = tonumber(ARGV[5])
local retention = tonumber(ARGV[8])
local scope = ARGV[9]

local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

if ARGV[11] ~= '' then
  local stored = redis.call('HGET', KEYS[4], ARGV[11])
  if ARGV[13] ~= '' and (not stored or tonumber(stored) < tonumber(ARGV[13])) then
    return { 'lost', stored or '' }
  end
  if tonumber(ARGV[12]) > tonumber(stored or '-1') then
    redis.call('HSET', KEYS[4], ARGV[11], ARGV[12])
  end
end

-- Keep the marker past the command's own life, so a late redelivery is still a duplicate.
local marker_until = math.max(expires_at, now_ms) + retention
local fresh = redis.call('SET', KEYS[2], action .. ' ' .. scope, 'NX', 'PXAT',
  string.format('%.0f', marker_until))
if not fresh then
  return { 'duplicate', redis.call('GET', KEYS[2]) or '' }
end

-- Commands of one scope are ordered by event time: an older one never
-- overrides (or releases) a newer one, e.g. a replayed release of an old episode.
local current = redis.call('HMGET', KEYS[1], 'ts', 'command_id', 'action', 'tokens', 'bucket_us')
if current[1] and tonumber(current[1]) > ts then
  return { 'stale', current[2] or '' }
end

if action == 'release' then
  local removed = redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], scope)
  if removed == 1 then
    return { 'released', current[2] or '' }
  end
  return { 'release_noop', '' }
end

if expires_at <= now_ms then
  return { 'expired', '' }
end

redis.call('DEL', KEYS[1])
local fields = { 'action', action, 'rate_per_s', ARGV[3], 'expires_at', ARGV[4],
  'command_id', command_id, 'ts', ARGV[5], 'reason', ARGV[6], 'alert_id', ARGV[7] }
if action == 'limit' and current[3] == 'limit' and current[4] and current[5] then
  -- A refreshed or re-rated limit keeps its bucket (capped at the new burst),
  -- so re-issuing a command does not hand out a fresh burst.
  local tokens = math.min(tonumber(current[4]), math.max(1, rate))
  fields[#fields + 1] = 'tokens'
  fields[#fields + 1] = string.format('%.6f', tokens)
  fields[#fields + 1] = 'bucket_us'
  fields[#fields + 1] = current[5]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', expires_at))
redis.call('ZADD', KEYS[3], string.format('%.0f', expires_at), scope)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', string.format('%.0f', now_ms))
if ARGV[10] ~= '' then
  -- GT keeps the latest expiry of the depth; a depth leaves once nothing uses it.
  redis.call('ZADD', KEYS[5], 'GT', string.format('%.0f', expires_at), ARGV[10])
end
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', string.format('%.0f', now_ms))
return { 'applied', current[2] or '' }
