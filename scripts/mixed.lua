-- Repeating mixed workload: ~250 distinct queries plus /countries and a 500-plan page.
local paths = {}
local countries = {"DE", "FR", "US", "JP", "ES", "IT", "GB", "TR", "DE,FR", "TH"}
local filters = {"", "&min_gb=5", "&max_price=20", "&speed=5G", "&min_days=15"}
local sorts = {"price", "-data", "price_per_gb", "duration", "name"}
local refs = {"", "&ref=acme-01", "&ref=globex"}
for _, c in ipairs(countries) do
  for _, f in ipairs(filters) do
    for i, s in ipairs(sorts) do
      local r = refs[(i % 3) + 1]
      paths[#paths + 1] = "/plans?country=" .. c .. f .. "&sort=" .. s .. r
    end
  end
end
paths[#paths + 1] = "/countries"
paths[#paths + 1] = "/plans?limit=500"
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n % #paths) + 1])
end
