// Drives /mcp with the official TypeScript MCP SDK, as a Node.js assistant
// would: initialise, list tools, call each tool, and a bad input. Prints one
// `N passed, N failed` line; exits non-zero on any failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const results = [];
function check(name, ok, detail = "") {
  results.push(ok);
  console.log(`${ok ? "ok  " : "FAIL"} ${name}${ok ? "" : `: ${JSON.stringify(detail).slice(0, 400)}`}`);
}

const base = process.argv[2];
const client = new Client({ name: "cmg-ts-check", version: "1.0.0" });
await client.connect(new StreamableHTTPClientTransport(new URL(`${base}/mcp?ref=acme-01`)));

const { tools } = await client.listTools();
const names = tools.map((t) => t.name);
check("tools/list: four tools", names.join() === "search_plans,get_plan,list_countries,plan_trip", names);
check("every tool declares an object input schema", tools.every((t) => t.inputSchema?.type === "object"), tools);

const search = await client.callTool({ name: "search_plans", arguments: { country: "de", limit: 3 } });
const plans = search.structuredContent?.plans ?? [];
check("search_plans answers plans covering DE",
  !search.isError && plans.length > 0 && plans.every((p) => p.locationCodes.includes("DE")), search);
check("every productUrl carries the ref", plans.every((p) => p.productUrl.includes("ref=acme-01")), plans);
check("text content is the same JSON",
  JSON.stringify(JSON.parse(search.content[0].text).plans) === JSON.stringify(plans), search.content);

const code = plans[0]?.packageCode;
const one = await client.callTool({ name: "get_plan", arguments: { packageCode: code } });
check("get_plan answers that plan", !one.isError && one.structuredContent?.packageCode === code, one);

const countries = await client.callTool({ name: "list_countries", arguments: {} });
const list = countries.structuredContent?.countries ?? countries.structuredContent;
check("list_countries answers countries", !countries.isError && JSON.stringify(list).includes("\"DE\""), countries);

const trip = await client.callTool({ name: "plan_trip", arguments: { stops: "FR:3,DE:4", gb_per_day: 0.5 } });
const options = trip.structuredContent?.options ?? [];
check("plan_trip answers options with the ref",
  !trip.isError && options.length > 0 && options.every((o) => o.legs.every((l) => l.plan.productUrl.includes("ref=acme-01"))), trip);

const bad = await client.callTool({ name: "search_plans", arguments: { min_gb: -1 } });
check("a bad input is a tool error naming the parameter", bad.isError === true && bad.content[0].text.includes("min_gb"), bad);

await client.close();
const failed = results.filter((ok) => !ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
