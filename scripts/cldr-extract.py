#!/usr/bin/env python3
"""Extracts what the service needs from CLDR's JSON into assets/cldr/markets.json.

Source: the Unicode CLDR JSON packages on npm, pinned below
(https://github.com/unicode-org/cldr-json, Unicode License v3). Run to
regenerate after changing the version:

    scripts/cldr-extract.py            # downloads with `npm pack` into a temp dir

It keeps, for the 14 languages the service serves:
  * continents: every region code under the five UN M49 continents
    (002 africa, 019 americas, 142 asia, 150 europe, 009 oceania), walked
    through CLDR's territory containment (deprecated groupings skipped);
  * names: each region's and continent's display name per language;
  * aliases: CLDR's short and variant names (`UK`, `Hongkong`), searched by
    `q` but never shown.
"""
import json, os, re, subprocess, sys, tarfile, tempfile

VERSION = "48.2.0"
LANGUAGES = ["en", "de", "fr", "es", "it", "pt", "nl", "pl", "sv", "tr", "ja", "ko", "zh", "ar"]
CONTINENTS = {"002": "africa", "019": "americas", "142": "asia", "150": "europe", "009": "oceania"}
NOT_PLACES = {"ZZ", "EU", "EZ", "UN", "QO"}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets", "cldr", "markets.json")


def unpack(workdir, package):
    subprocess.run(["npm", "pack", "--silent", f"{package}@{VERSION}"], cwd=workdir, check=True,
                   stdout=subprocess.DEVNULL)
    target = os.path.join(workdir, package)
    with tarfile.open(os.path.join(workdir, f"{package}-{VERSION}.tgz")) as tar:
        tar.extractall(target, filter="data")
    return os.path.join(target, "package")


def main():
    with tempfile.TemporaryDirectory() as workdir:
        core = unpack(workdir, "cldr-core")
        names_pkg = unpack(workdir, "cldr-localenames-full")
        containment = json.load(open(os.path.join(core, "supplemental", "territoryContainment.json")))
        containment = containment["supplemental"]["territoryContainment"]

        def leaves(code):
            for child in containment.get(code, {}).get("_contains", []):
                if child in containment:
                    yield from leaves(child)
                else:
                    yield child

        continents = {name: sorted(set(leaves(code)) - NOT_PLACES) for code, name in CONTINENTS.items()}
        names, aliases = {}, {}
        for lang in LANGUAGES:
            path = os.path.join(names_pkg, "main", lang, "territories.json")
            table = json.load(open(path))["main"][lang]["localeDisplayNames"]["territories"]
            names[lang] = {k: v for k, v in sorted(table.items())
                           if re.fullmatch(r"[A-Z]{2}", k) and k not in NOT_PLACES}
            for code, name in CONTINENTS.items():
                names[lang][name] = table[code]
            aliases[lang] = {}
            for key, value in sorted(table.items()):
                m = re.fullmatch(r"([A-Z]{2})-alt-(short|variant)", key)
                if m and m.group(1) not in NOT_PLACES and value != names[lang].get(m.group(1)):
                    aliases[lang].setdefault(m.group(1), []).append(value)
        out = {
            "source": f"Unicode CLDR {VERSION} (npm cldr-core, cldr-localenames-full); Unicode License v3",
            "languages": LANGUAGES,
            "continents": continents,
            "names": names,
            "aliases": aliases,
        }
        with open(OUT, "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=0, sort_keys=False)
            f.write("\n")
        print(f"wrote {OUT}: {sum(len(v) for v in continents.values())} places in continents, "
              f"{len(LANGUAGES)} languages", file=sys.stderr)


if __name__ == "__main__":
    main()
