/*
 * cmg-feed-proxy plan finder widget. Dependency-free, no build step.
 *
 * Embed:
 *   <script src="https://PROXY/widget.js" data-ref="acme-01" data-country="DE"></script>
 *
 * Renders into a shadow root next to the script tag (or into the element named
 * by data-target), and calls the API on the origin the script came from.
 * Feed text is only ever set with textContent, never parsed as HTML.
 */
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script) return;
  var api = new URL(script.src, document.baseURI).origin;
  // The standalone page (data-url-params) also takes ?ref= and ?country= from its own URL.
  var pageParams = script.hasAttribute("data-url-params") ? new URLSearchParams(location.search) : null;
  var ref = script.getAttribute("data-ref") || (pageParams && pageParams.get("ref")) || "";
  var initialCountries = (script.getAttribute("data-country") || (pageParams && pageParams.get("country")) || "")
    .split(",").map(function (c) { return c.trim().toUpperCase(); }).filter(Boolean);
  // Buy links go through /go so the partner's click report counts them.
  var subid = pageParams ? "finder" : "widget";
  // Names in the browser's language (CLDR, from the API), prices in the
  // currency picked on the page (kept in the page's URL) or data-currency.
  var lang = script.getAttribute("data-lang") || (pageParams && pageParams.get("lang")) ||
    (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  if (!/^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$/.test(lang)) lang = "en";
  var currency = (script.getAttribute("data-currency") || (pageParams && pageParams.get("currency")) || "USD").toUpperCase();
  var CURRENCIES = ["USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "CNY", "CZK", "DKK", "HKD", "HUF", "IDR", "ILS",
    "INR", "ISK", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP", "PLN", "RON", "SEK", "SGD", "THB", "TRY", "BRL", "ZAR"];
  if (!/^[A-Z]{3}$/.test(currency)) currency = "USD";
  if (CURRENCIES.indexOf(currency) < 0) CURRENCIES.push(currency);
  var pageSize = Math.min(Math.max(parseInt(script.getAttribute("data-limit") || "12", 10) || 12, 1), 100);

  var host;
  var targetId = script.getAttribute("data-target");
  if (targetId && document.getElementById(targetId)) {
    host = document.getElementById(targetId);
  } else {
    host = document.createElement("div");
    script.parentNode.insertBefore(host, script.nextSibling);
  }
  host.className = (host.className ? host.className + " " : "") + "cmg-plan-finder";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;

  var css = [
    "[hidden]{display:none!important}",
    ":host{all:initial;display:block;font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;color:#1b1f24}",
    "*{box-sizing:border-box}",
    ".finder{max-width:1100px;margin:0 auto;padding:12px}",
    "form{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;align-items:end;margin-bottom:12px}",
    "label{display:flex;flex-direction:column;font-size:13px;font-weight:600;color:#333;gap:4px}",
    "input,select,button{font:inherit;padding:7px 9px;border:1px solid #767676;border-radius:6px;background:#fff;color:#1b1f24}",
    "input:focus,select:focus,button:focus,a:focus{outline:3px solid #0b57d0;outline-offset:1px}",
    ".check{flex-direction:row;align-items:center;gap:6px;padding-bottom:8px}",
    ".dest{position:relative;grid-column:span 2}",
    ".chips{display:flex;flex-wrap:wrap;gap:6px;margin-top:4px}",
    ".chip{background:#e8eefc;border:1px solid #0b57d0;color:#0b3d91;border-radius:14px;padding:2px 10px;font-size:13px;cursor:pointer}",
    "ul.suggest{position:absolute;z-index:5;top:100%;left:0;right:0;list-style:none;margin:2px 0 0;padding:0;background:#fff;border:1px solid #767676;border-radius:6px;max-height:240px;overflow:auto}",
    "ul.suggest li{padding:6px 10px;cursor:pointer}",
    "ul.suggest li[aria-selected=true],ul.suggest li:hover{background:#0b57d0;color:#fff}",
    ".status{margin:6px 0 12px;font-size:13px;color:#444}",
    ".stale{background:#fff4e5;border:1px solid #b35c00;color:#663500;padding:6px 10px;border-radius:6px;margin-bottom:10px}",
    ".error{background:#fdecea;border:1px solid #b3261e;color:#601410;padding:6px 10px;border-radius:6px}",
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:12px;list-style:none;padding:0;margin:0}",
    ".card{border:1px solid #d0d7de;border-radius:10px;padding:12px;display:flex;flex-direction:column;gap:6px;background:#fff}",
    ".card h3{margin:0;font-size:16px}",
    ".meta{font-size:13px;color:#444;margin:0}",
    ".price{font-size:20px;font-weight:700;margin:4px 0 0}",
    ".ppg{font-size:13px;color:#444}",
    ".buy{margin-top:auto;display:inline-block;text-align:center;background:#0b57d0;color:#fff;text-decoration:none;border-radius:6px;padding:8px 10px;font-weight:600}",
    ".pager{display:flex;gap:10px;align-items:center;justify-content:center;margin-top:14px}",
    "button{cursor:pointer}button[disabled]{opacity:.5;cursor:default}",
    ".tabs{display:flex;gap:6px;margin-bottom:10px}",
    ".tabs button[aria-selected=true]{background:#0b57d0;color:#fff;border-color:#0b57d0}",
    ".stops{list-style:none;padding:0;margin:0 0 10px;display:flex;flex-direction:column;gap:8px}",
    ".stop{display:flex;gap:8px;align-items:end;flex-wrap:wrap}",
    ".trip-form{display:flex;gap:10px;align-items:end;flex-wrap:wrap;margin-bottom:12px}",
    ".trip-status{margin:6px 0 12px;font-size:13px;color:#444}",
    ".option{border:1px solid #d0d7de;border-radius:10px;padding:12px;background:#fff;margin-bottom:10px}",
    ".option h3{margin:0 0 6px;font-size:17px}",
    ".legs{list-style:none;padding:0;margin:0;display:flex;flex-direction:column;gap:8px}",
    ".leg{display:flex;gap:10px;align-items:center;justify-content:space-between;flex-wrap:wrap;border-top:1px solid #eaeef2;padding-top:8px}",
    ".leg .buy{margin-top:0}",
    "@media (max-width:520px){.dest{grid-column:span 1}.price{font-size:18px}}"
  ].join("\n");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  var style = el("style"); style.textContent = css; root.appendChild(style);
  var wrap = el("div", { "class": "finder", "part": "finder" }); root.appendChild(wrap);
  var uid = "cmgpf" + Math.random().toString(36).slice(2, 8);

  // Two modes: single-destination plans, and trip quotes over several stops.
  var tabs = el("div", { "class": "tabs", role: "tablist", "aria-label": "Mode" });
  var tabPlans = el("button", { type: "button", role: "tab", id: uid + "-tab-plans", "aria-selected": "true", "aria-controls": uid + "-plans" }, "Plans");
  var tabTrip = el("button", { type: "button", role: "tab", id: uid + "-tab-trip", "aria-selected": "false", "aria-controls": uid + "-trip" }, "Trip");
  tabs.appendChild(tabPlans); tabs.appendChild(tabTrip);
  wrap.appendChild(tabs);
  var plansPanel = el("div", { id: uid + "-plans", role: "tabpanel", "aria-labelledby": uid + "-tab-plans" });
  wrap.appendChild(plansPanel);

  var form = el("form", { "role": "search", "aria-label": "Find an eSIM plan" });
  var destLabel = el("label", { "class": "dest", "for": uid + "-dest" }, "Destination");
  var destInput = el("input", {
    id: uid + "-dest", type: "text", autocomplete: "off", placeholder: "Country name or code",
    role: "combobox", "aria-autocomplete": "list", "aria-expanded": "false", "aria-controls": uid + "-list"
  });
  var suggest = el("ul", { id: uid + "-list", "class": "suggest", role: "listbox", hidden: "" });
  var chips = el("div", { "class": "chips", "aria-live": "polite" });
  destLabel.appendChild(destInput); destLabel.appendChild(suggest); destLabel.appendChild(chips);
  form.appendChild(destLabel);

  function field(name, labelText, attrs) {
    var label = el("label", { "for": uid + "-" + name }, labelText);
    var input = el("input", Object.assign({ id: uid + "-" + name, name: name, type: "number", min: "0", inputmode: "decimal" }, attrs || {}));
    label.appendChild(input); form.appendChild(label);
    return input;
  }
  var minGb = field("min_gb", "Min data (GB)", { step: "any" });
  var minDays = field("min_days", "Min days", { step: "1" });
  var maxPrice = field("max_price", "Max price (USD)", { step: "any" });

  var sortLabel = el("label", { "for": uid + "-sort" }, "Sort by");
  var sort = el("select", { id: uid + "-sort", name: "sort" });
  [["price", "Price"], ["price_per_gb", "Price per GB"], ["-data", "Most data"], ["-duration", "Longest validity"]]
    .forEach(function (o) { sort.appendChild(el("option", { value: o[0] }, o[1])); });
  sortLabel.appendChild(sort); form.appendChild(sortLabel);

  function select(name, labelText, options) {
    var label = el("label", { "for": uid + "-" + name }, labelText);
    var box = el("select", { id: uid + "-" + name, name: name });
    options.forEach(function (o) { box.appendChild(el("option", { value: o[0] }, o[1])); });
    label.appendChild(box); form.appendChild(label);
    return box;
  }
  var region = select("region", "Region", [["", "Any region"], ["africa", "Africa"], ["americas", "Americas"],
    ["asia", "Asia"], ["europe", "Europe"], ["oceania", "Oceania"]]);
  var scope = select("scope", "Coverage", [["", "Any coverage"], ["local", "One country"],
    ["regional", "Regional"], ["global", "Global"]]);
  var currencyBox = select("currency", "Currency", CURRENCIES.map(function (c) { return [c, c]; }));
  currencyBox.value = currency;

  function check(name, text) {
    var label = el("label", { "class": "check", "for": uid + "-" + name });
    var box = el("input", { id: uid + "-" + name, type: "checkbox", name: name });
    label.appendChild(box); label.appendChild(document.createTextNode(text));
    form.appendChild(label);
    return box;
  }
  var fiveG = check("5g", "5G only");
  var unlimited = check("unlimited", "Unlimited data only");
  plansPanel.appendChild(form);

  var notice = el("div", { "class": "stale", role: "status", hidden: "" });
  var status = el("p", { "class": "status", role: "status", "aria-live": "polite" });
  var results = el("ul", { "class": "grid", "aria-label": "Plans" });
  var pager = el("nav", { "class": "pager", "aria-label": "Pages" });
  var prev = el("button", { type: "button" }, "Previous");
  var pageInfo = el("span");
  var next = el("button", { type: "button" }, "Next");
  pager.appendChild(prev); pager.appendChild(pageInfo); pager.appendChild(next);
  plansPanel.appendChild(notice); plansPanel.appendChild(status); plansPanel.appendChild(results); plansPanel.appendChild(pager);

  // ---- Trip mode: stops in order, each with its days; options from /trips.
  var tripPanel = el("div", { id: uid + "-trip", role: "tabpanel", "aria-labelledby": uid + "-tab-trip", hidden: "" });
  var tripForm = el("form", { "aria-label": "Plan a trip" });
  var stopsList = el("ol", { "class": "stops", "aria-label": "Stops" });
  var addStop = el("button", { type: "button" }, "Add stop");
  var tripRow = el("div", { "class": "trip-form" });
  var gbLabel = el("label", { "for": uid + "-gbday" }, "Data per day (GB)");
  var gbDay = el("input", { id: uid + "-gbday", type: "number", min: "0", step: "any", value: "0.5", inputmode: "decimal" });
  gbLabel.appendChild(gbDay);
  var esimLabel = el("label", { "for": uid + "-esims" }, "Most eSIMs");
  var esims = el("select", { id: uid + "-esims" });
  ["1", "2", "3"].forEach(function (n) { esims.appendChild(el("option", { value: n }, n)); });
  esims.value = "2";
  esimLabel.appendChild(esims);
  var quote = el("button", { type: "submit" }, "Find trip options");
  tripRow.appendChild(addStop); tripRow.appendChild(gbLabel); tripRow.appendChild(esimLabel); tripRow.appendChild(quote);
  tripForm.appendChild(stopsList); tripForm.appendChild(tripRow);
  var tripStatus = el("p", { "class": "trip-status", role: "status", "aria-live": "polite" });
  var tripResults = el("div", { "class": "options", "aria-label": "Trip options" });
  tripPanel.appendChild(tripForm); tripPanel.appendChild(tripStatus); tripPanel.appendChild(tripResults);
  wrap.appendChild(tripPanel);

  function selectTab(trip) {
    tabPlans.setAttribute("aria-selected", trip ? "false" : "true");
    tabTrip.setAttribute("aria-selected", trip ? "true" : "false");
    plansPanel.hidden = trip; tripPanel.hidden = !trip;
  }
  tabPlans.addEventListener("click", function () { selectTab(false); });
  tabTrip.addEventListener("click", function () { selectTab(true); });

  var stopCount = 0;
  function addStopRow(code, days) {
    var n = ++stopCount;
    var li = el("li", { "class": "stop" });
    var cLabel = el("label", { "for": uid + "-stop-c" + n }, "Country");
    var cSelect = el("select", { id: uid + "-stop-c" + n, "class": "stop-country" });
    fillCountries(cSelect, code);
    cLabel.appendChild(cSelect);
    var dLabel = el("label", { "for": uid + "-stop-d" + n }, "Days");
    var dInput = el("input", { id: uid + "-stop-d" + n, "class": "stop-days", type: "number", min: "1", max: "365", step: "1", value: String(days || 3) });
    dLabel.appendChild(dInput);
    var remove = el("button", { type: "button", "aria-label": "Remove stop" }, "Remove");
    remove.addEventListener("click", function () { if (stopsList.children.length > 1) stopsList.removeChild(li); });
    li.appendChild(cLabel); li.appendChild(dLabel); li.appendChild(remove);
    stopsList.appendChild(li);
  }
  function fillCountries(select, code) {
    var keep = code || select.value;
    select.textContent = "";
    var list = countries.length ? countries : (keep ? [{ code: keep, name: keep }] : []);
    list.forEach(function (c) { select.appendChild(el("option", { value: c.code }, c.name + " (" + c.code + ")")); });
    if (keep) select.value = keep;
  }
  addStop.addEventListener("click", function () {
    if (stopsList.children.length < 10) addStopRow("", 3);
  });

  // The /go link of a plan: its ref is the page's, or (from a partner's
  // origin, where the API put it) the one in productUrl.
  function buyHref(plan) {
    var product = String(plan.productUrl || "");
    if (!/^https?:\/\//i.test(product)) return "";
    var r = ref;
    if (!r) {
      try { r = new URL(product).searchParams.get("ref") || ""; } catch (e) { r = ""; }
    }
    var q = new URLSearchParams();
    if (r) q.set("ref", r);
    q.set("subid", subid);
    return api + "/go/" + encodeURIComponent(String(plan.packageCode)) + "?" + q.toString();
  }

  function legRow(leg) {
    var li = el("li", { "class": "leg" });
    var text = el("div");
    text.appendChild(el("strong", null, leg.countries.join(", ") + " · " + leg.days + " days"));
    text.appendChild(el("p", { "class": "meta" }, leg.plan.name + " · " + fmtData(leg.plan.dataAmount) + " · " + leg.plan.duration + " days · " + priceOf(leg.plan, "retailPrice")));
    li.appendChild(text);
    var href = buyHref(leg.plan);
    if (href) {
      var a = el("a", { "class": "buy", href: href, target: "_blank", rel: "noopener noreferrer" }, "Buy");
      a.setAttribute("aria-label", "Buy " + leg.plan.name);
      li.appendChild(a);
    }
    return li;
  }

  tripForm.addEventListener("submit", function (e) {
    e.preventDefault();
    var stops = [];
    stopsList.querySelectorAll("li").forEach(function (li) {
      var c = li.querySelector(".stop-country").value;
      var d = parseInt(li.querySelector(".stop-days").value, 10);
      if (c && d > 0) stops.push(c + ":" + d);
    });
    var params = new URLSearchParams();
    params.set("stops", stops.join(","));
    if (positive(gbDay)) params.set("gb_per_day", positive(gbDay));
    params.set("max_esims", esims.value);
    if (ref) params.set("ref", ref);
    if (currency !== "USD") params.set("currency", currency);
    tripStatus.textContent = "Finding trip options…";
    tripResults.textContent = "";
    fetch(api + "/trips?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        tripResults.textContent = "";
        if (!res.ok) {
          tripStatus.textContent = "";
          tripResults.appendChild(el("p", { "class": "error", role: "alert" }, res.body && res.body.error ? res.body.error.message : "Request failed"));
          return;
        }
        var body = res.body;
        if (body.uncovered.length) {
          tripStatus.textContent = "No plan covers " + body.uncovered.map(countryName).join(", ") + ".";
          return;
        }
        tripStatus.textContent = body.options.length + " options for " + body.days + " days";
        body.options.forEach(function (o, i) {
          var box = el("section", { "class": "option", "aria-label": "Option " + (i + 1) });
          box.appendChild(el("h3", null, "Option " + (i + 1) + ": " + priceOf(o, "totalPrice") + " · " + o.esims + (o.esims === 1 ? " eSIM" : " eSIMs")));
          var legs = el("ul", { "class": "legs" });
          o.legs.forEach(function (leg) { legs.appendChild(legRow(leg)); });
          box.appendChild(legs);
          tripResults.appendChild(box);
        });
      })
      .catch(function () {
        tripStatus.textContent = "";
        tripResults.appendChild(el("p", { "class": "error", role: "alert" }, "The plan service cannot be reached right now."));
      });
  });

  var countries = [];
  var shownPlans = [];
  var selected = initialCountries.slice();
  var offset = 0;
  var active = -1;
  var seq = 0;

  function countryName(code) {
    for (var i = 0; i < countries.length; i++) if (countries[i].code === code) return countries[i].name;
    return code;
  }

  function renderChips() {
    chips.textContent = "";
    selected.forEach(function (code) {
      var chip = el("button", { type: "button", "class": "chip", "aria-label": "Remove " + countryName(code) }, countryName(code) + " \u00d7");
      chip.addEventListener("click", function () {
        selected = selected.filter(function (c) { return c !== code; });
        offset = 0; renderChips(); load();
      });
      chips.appendChild(chip);
    });
  }

  function closeSuggest() {
    suggest.hidden = true; destInput.setAttribute("aria-expanded", "false"); active = -1;
    destInput.removeAttribute("aria-activedescendant");
  }

  function pick(code) {
    if (selected.indexOf(code) < 0) selected.push(code);
    destInput.value = ""; closeSuggest(); offset = 0; renderChips(); load();
  }

  // Case and accents do not matter ("turkiye" finds "Türkiye").
  function fold(text) {
    return String(text).normalize("NFD").replace(/[\u0300-\u036f\u3099\u309a]/g, "").toLowerCase();
  }

  function showSuggest() {
    var q = fold(destInput.value.trim());
    suggest.textContent = "";
    if (!q) { closeSuggest(); return; }
    var matches = countries.filter(function (c) {
      return selected.indexOf(c.code) < 0 &&
        (fold(c.name).indexOf(q) >= 0 || c.code.toLowerCase() === q);
    }).slice(0, 8);
    matches.forEach(function (c, i) {
      var li = el("li", { id: uid + "-opt-" + i, role: "option", "data-code": c.code, "aria-selected": "false" },
        c.name + " (" + c.code + ")");
      li.addEventListener("mousedown", function (e) { e.preventDefault(); pick(c.code); });
      suggest.appendChild(li);
    });
    suggest.hidden = matches.length === 0;
    destInput.setAttribute("aria-expanded", matches.length ? "true" : "false");
    active = -1;
  }

  function highlight(i) {
    var items = suggest.querySelectorAll("li");
    if (!items.length) return;
    active = (i + items.length) % items.length;
    items.forEach(function (li, j) { li.setAttribute("aria-selected", j === active ? "true" : "false"); });
    destInput.setAttribute("aria-activedescendant", items[active].id);
  }

  destInput.addEventListener("input", showSuggest);
  destInput.addEventListener("blur", function () { setTimeout(closeSuggest, 100); });
  destInput.addEventListener("keydown", function (e) {
    var items = suggest.querySelectorAll("li");
    if (e.key === "ArrowDown") { e.preventDefault(); if (suggest.hidden) showSuggest(); highlight(active + 1); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active - 1); }
    else if (e.key === "Enter") {
      e.preventDefault();
      var item = items[active >= 0 ? active : 0];
      if (item) pick(item.getAttribute("data-code"));
    } else if (e.key === "Escape") { closeSuggest(); }
    else if (e.key === "Backspace" && !destInput.value && selected.length) {
      selected.pop(); offset = 0; renderChips(); load();
    }
  });
  form.addEventListener("submit", function (e) { e.preventDefault(); });
  [minGb, minDays, maxPrice].forEach(function (input) {
    input.addEventListener("change", function () { offset = 0; load(); });
  });
  [sort, region, scope].forEach(function (box) {
    box.addEventListener("change", function () { offset = 0; load(); });
  });
  fiveG.addEventListener("change", function () { offset = 0; load(); });
  unlimited.addEventListener("change", function () { offset = 0; load(); });
  currencyBox.addEventListener("change", function () {
    currency = currencyBox.value;
    if (pageParams) {
      // Kept in the page's own URL, so a reload or a shared link keeps it.
      var url = new URL(location.href);
      if (currency === "USD") url.searchParams.delete("currency"); else url.searchParams.set("currency", currency);
      history.replaceState(null, "", url.toString());
    }
    load();
  });
  prev.addEventListener("click", function () { offset = Math.max(0, offset - pageSize); load(); });
  next.addEventListener("click", function () { offset += pageSize; load(); });

  function fmtMoney(v) { return "$" + Number(v).toFixed(2); }
  // An amount of `what` (retailPrice, pricePerGb, totalPrice): the display
  // amount in the chosen currency, formatted for the browser's language.
  function priceOf(item, what) {
    var shown = item.display && item.display.currency === currency ? item.display[what] : null;
    if (currency === "USD" || shown === null || shown === undefined) return fmtMoney(item[what]);
    try {
      return new Intl.NumberFormat(lang, { style: "currency", currency: currency, maximumFractionDigits: what === "pricePerGb" ? 4 : undefined }).format(shown);
    } catch (e) {
      return shown + " " + currency;
    }
  }
  function fmtData(gb) { return gb === 0 ? "Unlimited" : (gb < 1 ? Math.round(gb * 1024) + " MB" : gb + " GB"); }
  function fmtAge(seconds) {
    if (seconds < 90) return "just now";
    if (seconds < 5400) return Math.round(seconds / 60) + " minutes ago";
    if (seconds < 129600) return Math.round(seconds / 3600) + " hours ago";
    return Math.round(seconds / 86400) + " days ago";
  }
  function positive(input) {
    var v = input.value.trim();
    return v !== "" && isFinite(Number(v)) && Number(v) >= 0 ? v : "";
  }

  function card(plan) {
    var li = el("li", { "class": "card" });
    li.appendChild(el("h3", null, plan.name));
    var names = (plan.locationCodes || []).map(countryName);
    var coverage = names.length > 3 ? names.slice(0, 3).join(", ") + " +" + (names.length - 3) + " more" : names.join(", ");
    li.appendChild(el("p", { "class": "meta" }, "Coverage: " + (coverage || (plan.locationCodes || []).join(", "))));
    li.appendChild(el("p", { "class": "meta" }, fmtData(plan.dataAmount) + " \u00b7 " + plan.duration + " days \u00b7 " + plan.speed));
    li.appendChild(el("p", { "class": "meta" }, "Operator: " + plan.operator));
    li.appendChild(el("p", { "class": "price" }, priceOf(plan, "retailPrice")));
    li.appendChild(el("span", { "class": "ppg" }, plan.pricePerGb === null ? "Unlimited data" : priceOf(plan, "pricePerGb") + " per GB"));
    var href = buyHref(plan);
    if (href) {
      var a = el("a", { "class": "buy", href: href, target: "_blank", rel: "noopener noreferrer" }, "Buy");
      a.setAttribute("aria-label", "Buy " + plan.name);
      li.appendChild(a);
    }
    return li;
  }

  function load() {
    var params = new URLSearchParams();
    if (selected.length) params.set("country", selected.join(","));
    if (positive(minGb)) params.set("min_gb", positive(minGb));
    if (positive(minDays)) params.set("min_days", positive(minDays));
    if (positive(maxPrice)) params.set("max_price", positive(maxPrice));
    if (fiveG.checked) params.set("speed", "5G");
    if (unlimited.checked) params.set("unlimited", "true");
    if (region.value) params.set("region", region.value);
    if (scope.value) params.set("scope", scope.value);
    if (currency !== "USD") params.set("currency", currency);
    params.set("sort", sort.value);
    params.set("limit", String(pageSize));
    params.set("offset", String(offset));
    if (ref) params.set("ref", ref);
    var mine = ++seq;
    status.textContent = "Loading plans\u2026";
    fetch(api + "/plans?" + params.toString(), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (mine !== seq) return;
        results.textContent = "";
        if (!res.ok) {
          var msg = res.body && res.body.error ? res.body.error.message : "Request failed";
          status.textContent = "";
          results.appendChild(el("li", { "class": "error", role: "alert" }, msg));
          pager.hidden = true;
          return;
        }
        var body = res.body;
        shownPlans = body.plans;
        body.plans.forEach(function (p) { results.appendChild(card(p)); });
        var from = body.total ? body.offset + 1 : 0;
        var to = body.offset + body.plans.length;
        status.textContent = body.total + " plans" + (body.total ? " (showing " + from + "\u2013" + to + ")" : "") +
          " \u00b7 updated " + fmtAge(Math.max(0, Math.round((Date.now() - Date.parse(body.catalog.updatedAt)) / 1000)));
        notice.hidden = !body.catalog.stale;
        notice.textContent = body.catalog.stale ? "Prices may be out of date: the catalog could not be refreshed recently." : "";
        pager.hidden = body.total <= pageSize;
        prev.disabled = body.offset === 0;
        next.disabled = to >= body.total;
        pageInfo.textContent = "Page " + (Math.floor(body.offset / pageSize) + 1) + " of " + Math.max(1, Math.ceil(body.total / pageSize));
      })
      .catch(function () {
        if (mine !== seq) return;
        status.textContent = "";
        results.textContent = "";
        results.appendChild(el("li", { "class": "error", role: "alert" }, "The plan service cannot be reached right now."));
      });
  }

  // Region names in the browser's language.
  fetch(api + "/regions?lang=" + encodeURIComponent(lang), { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : {}; })
    .then(function (body) {
      (body.regions || []).forEach(function (r) {
        var option = region.querySelector('option[value="' + r.code + '"]');
        if (option) option.textContent = r.name;
      });
    })
    .catch(function () {});
  fetch(api + "/countries?lang=" + encodeURIComponent(lang), { headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : []; })
    .then(function (list) {
      countries = list && Array.isArray(list.countries) ? list.countries : [];
      renderChips();
      // Cards drawn before the names arrived show them now.
      if (shownPlans.length) {
        results.textContent = "";
        shownPlans.forEach(function (p) { results.appendChild(card(p)); });
      }
      stopsList.querySelectorAll(".stop-country").forEach(function (s) { fillCountries(s); });
    })
    .catch(function () { countries = []; });
  renderChips();
  var firstStops = initialCountries.length ? initialCountries : ["FR", "DE"];
  firstStops.slice(0, 10).forEach(function (c) { addStopRow(c, 3); });
  load();
})();
