"""/changes.atom read by a real feed parser (feedparser), against the demo.

The expected entries are computed from /changes?since=0 (JSON): one entry per
version, newest first, titled with its counts; with `country`, only versions
that changed a plan covering every one of those countries, counting those.
Prints "N passed, N failed".
"""
import json
import sys
import urllib.request

import feedparser

base = sys.argv[1]
passed = failed = 0


def check(name, condition, detail=""):
    global passed, failed
    if condition:
        passed += 1
    else:
        failed += 1
        print(f"FAILED {name}: {detail}")


def get_json(path):
    with urllib.request.urlopen(base + path) as r:
        return json.load(r)


changes = get_json("/changes?since=0&limit=1000")["changes"]
current = get_json("/readyz")["version"]
versions = list(range(current, max(0, current - 50), -1))


def expected(countries):
    titles = []
    for v in versions:
        kept = []
        for c in changes:
            if c["version"] != v:
                continue
            plans = [p for p in (c["after"], c["before"]) if p]
            if countries and not any(all(k in p["locationCodes"] for k in countries) for p in plans):
                continue
            kept.append(c["kind"])
        if countries and not kept:
            continue
        titles.append(
            f"Catalog version {v}: {kept.count('added')} added, "
            f"{kept.count('removed')} removed, {kept.count('updated')} updated"
        )
    return titles


for query, countries in [("", []), ("?country=DE", ["DE"]), ("?country=fr,it", ["FR", "IT"])]:
    feed = feedparser.parse(base + "/changes.atom" + query)
    check(f"{query or 'all'}: well-formed", not feed.bozo, repr(feed.get("bozo_exception")))
    check(f"{query or 'all'}: Atom 1.0", feed.version == "atom10", feed.version)
    titles = [e.title for e in feed.entries]
    check(f"{query or 'all'}: entries", titles == expected(countries), f"{titles} != {expected(countries)}")
    check(
        f"{query or 'all'}: ids and links",
        all(
            e.id == f"urn:cmg-feed-proxy:version:{e.title.split()[2].rstrip(':')}"
            and e.link.endswith(f"/changes?since={int(e.title.split()[2].rstrip(':')) - 1}")
            for e in feed.entries
        ),
        [(e.id, e.link) for e in feed.entries],
    )
    stamps = [e.updated_parsed for e in feed.entries]
    check(f"{query or 'all'}: newest first", stamps == sorted(stamps, reverse=True), stamps)

feed = feedparser.parse(base + "/changes.atom?ref=feed-ref")
links = [l for e in feed.entries for l in e.summary.split('href="')[1:]]
check("ref in plan links", links and all("ref=feed-ref" in l.split('"')[0] for l in links), links[:3])
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
