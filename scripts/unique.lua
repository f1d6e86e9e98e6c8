-- Never-repeating queries: every request a new combination of price bounds and
-- offset, so no response cache can help.
local n = 0
request = function()
  n = n + 1
  local lo = (n % 997) / 100
  local hi = lo + 5 + (n % 389) / 10 + n / 1e7
  local offset = n % 37
  return wrk.format("GET", string.format("/plans?min_price=%.2f&max_price=%.7f&offset=%d&limit=20", lo, hi, offset))
end
