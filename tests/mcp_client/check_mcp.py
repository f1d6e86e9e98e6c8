"""Drives /mcp with the official Python MCP SDK (a client no one here wrote):
initialise, list tools, call search_plans and plan_trip, and a bad input.
Prints one `N passed, N failed` line; exits non-zero on any failure."""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamablehttp_client

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))


async def main(base):
    url = f"{base}/mcp?ref=acme-01"
    async with streamablehttp_client(url) as (read, write, _):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            check("initialize: instructions mention USD", "USD" in (init.instructions or ""), init.instructions)

            tools = await session.list_tools()
            names = [t.name for t in tools.tools]
            check("tools/list: four tools", names == ["search_plans", "get_plan", "list_countries", "plan_trip"], names)
            search = next(t for t in tools.tools if t.name == "search_plans")
            check("search_plans schema has country and min_gb",
                  {"country", "min_gb", "ref"} <= set(search.inputSchema.get("properties", {})), search.inputSchema)

            result = await session.call_tool("search_plans", {"country": "DE", "limit": 5})
            plans = (result.structuredContent or {}).get("plans", [])
            check("search_plans country=DE answers plans", not result.isError and len(plans) > 0, result)
            check("every plan covers DE", all("DE" in p["locationCodes"] for p in plans), plans)
            check("every productUrl carries the ref", all("ref=acme-01" in p["productUrl"] for p in plans), plans)
            text = json.loads(result.content[0].text)
            check("text rendering is the same JSON", text["plans"] == plans)

            result = await session.call_tool("plan_trip", {"stops": "FR:3,DE:4,IT:7", "gb_per_day": 0.5})
            trip = result.structuredContent or {}
            options = trip.get("options", [])
            check("plan_trip answers options", not result.isError and len(options) > 0, result)
            check("plan_trip totals are sorted", [o["totalPrice"] for o in options] == sorted(o["totalPrice"] for o in options), options)
            check("plan_trip legs carry the ref",
                  all("ref=acme-01" in leg["plan"]["productUrl"] for o in options for leg in o["legs"]), options)
            check("plan_trip covers 14 days", trip.get("days") == 14, trip.get("days"))

            result = await session.call_tool("search_plans", {"min_gb": -1})
            check("a bad input is a tool error naming the parameter",
                  result.isError and "min_gb" in result.content[0].text, result)

    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1])))
