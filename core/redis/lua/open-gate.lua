--[[
  open-gate: reopen a seeded sale. Refuses when the stock key is missing (a sale that lost its
  data must be seeded, not reopened, or the API would see no stock).

  KEYS[1] stock  fg:{p}:stock
  KEYS[2] meta   fg:{p}:meta

  Returns 1 when opened, 0 when the sale is not seeded.
]]
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
redis.call('HSET', KEYS[2], 'state', 'open')
return 1
