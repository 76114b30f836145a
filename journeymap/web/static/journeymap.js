/* journeymap dashboard and report: render the JSON API's results.
 *
 * Every value that comes from data (event names, property values, stage names, user
 * ids, comments) is put into the page as text (textContent / text nodes), never as
 * HTML. The pages fetch /api/...; the shareable report calls the same renderers on the
 * data embedded in it (<script type="application/json" id="jm-data">).
 */
(function () {
  "use strict";

  // ---- DOM and formatting ----------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  const pct = (x, d = 1) => (x === null || x === undefined ? "–" : (100 * x).toFixed(d) + "%");
  const count = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  const ci = (c) => (c ? pct(c[0]) + "–" + pct(c[1]) : "–");
  function dur(s) {
    if (s === null || s === undefined) return "–";
    if (s >= 86400) return (s / 86400).toFixed(1) + "d";
    if (s >= 3600) return (s / 3600).toFixed(1) + "h";
    if (s >= 60) return (s / 60).toFixed(1) + "m";
    return Math.round(s) + "s";
  }
  const day = (iso) => (iso ? iso.slice(0, 10) : "–");
  const stamp = (iso) => (iso ? iso.slice(0, 19).replace("T", " ") : "–");
  // Plotly draws some HTML-like tags in its text; data goes in with < > & as entities
  const plotText = (s) => String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

  // good / bad colour of a transition: below its benchmark is bad, into a bad outcome
  // above its benchmark is bad
  function judged(s) {
    if (!s || !s.verdict) return "none";
    if (s.lower_is_better) return s.verdict === "above" ? "bad" : "good";
    return s.verdict === "below" ? "bad" : "good";
  }

  function table(columns, rows, opts = {}) {
    const head = h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.n ? "n" : null }, c.label)));
    const body = rows.map((r) => h("tr", { class: opts.rowClass ? opts.rowClass(r) : null },
      columns.map((c) => h("td", { class: c.n ? "n" : null }, c.cell ? c.cell(r) : r[c.key]))));
    return h("div", { class: "scroll" }, h("table", { class: "data" },
      opts.caption ? h("caption", { class: "note" }, opts.caption) : null,
      h("thead", {}, head), h("tbody", {}, body)));
  }

  const PLOT_CONFIG = { displaylogo: false, responsive: true, showLink: false, showSendToCloud: false,
    showEditInChartStudio: false, modeBarButtonsToRemove: ["lasso2d", "select2d", "toImage"] };
  const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, Arial, sans-serif", size: 12, color: "#1b2333" };

  // A chart with a text alternative: the figure is labelled, and the data it draws is
  // one click away as a table.
  function chart(title, describe, figure, dataTable, height = 320) {
    const box = h("div", { class: "plot", style: `height:${height}px` });
    const fig = h("figure", { role: "group", "aria-label": title },
      h("h3", {}, title), h("div", { role: "img", "aria-label": describe }, box),
      h("figcaption", {}, describe),
      dataTable ? h("details", {}, h("summary", {}, "Show the data as a table"), dataTable) : null);
    queueMicrotask(() => {
      if (window.Plotly) {
        window.Plotly.newPlot(box, figure.data, Object.assign({ margin: { l: 50, r: 20, t: 10, b: 70 },
          font: FONT, paper_bgcolor: "#fff", plot_bgcolor: "#fff", showlegend: false }, figure.layout || {}),
        PLOT_CONFIG);
      } else {
        box.appendChild(h("p", { class: "note" }, "(charts need plotly.js, which did not load)"));
      }
    });
    return fig;
  }

  // ---- talking to the API ------------------------------------------------------------
  const DATA = (() => {
    const tag = document.getElementById("jm-data");
    return tag ? JSON.parse(tag.textContent) : null;
  })();

  async function api(path, onProgress) {
    for (;;) {
      const res = await fetch(path, { headers: { Accept: "application/json" } });
      const body = await res.json();
      if (res.status === 202) {
        if (onProgress) onProgress(body.progress);
        await new Promise((r) => setTimeout(r, 400));
        continue;
      }
      if (!res.ok) {
        const err = new Error(body.error ? body.error.message : res.statusText);
        err.status = res.status;
        throw err;
      }
      return body;
    }
  }

  function working(app, what) {
    const fill = h("div", {});
    const label = h("p", { class: "note" }, "Starting…");
    app.replaceChildren(h("div", { class: "working", role: "status" },
      h("h2", {}, what), label, h("div", { class: "bar", "aria-hidden": "true" }, fill)));
    return (p) => {
      const t = p.task || "preparing";
      label.textContent = `${t}: ${count(p.done)}${p.total ? " of " + count(p.total) : ""} · ${p.elapsed_s}s`;
      fill.style.width = p.total ? Math.min(100, (100 * p.done) / p.total) + "%" : "35%";
    };
  }

  function failed(app, err) {
    app.replaceChildren(h("div", { class: "error", role: "alert" }, err.message || String(err)));
    app.setAttribute("aria-busy", "false");
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v) q.set(k, v);
    const s = q.toString();
    return s ? "?" + s : "";
  }

  function select(label, name, options, value, onChange) {
    const id = "ctl-" + name;
    return h("label", { for: id }, label,
      h("select", { id, name, onchange: (e) => onChange(e.target.value) },
        options.map(([v, text]) => h("option", { value: v, selected: v === (value || "") }, text))));
  }

  function facts(meta, map) {
    const el = document.getElementById("facts");
    if (!el || !map) return;
    el.replaceChildren(h("div", {}, meta ? meta.journey : map.journey),
      h("div", {}, `${count(map.computed_on.users)} customers · data to ${day(map.computed_on.data_end)}`));
  }

  // ---- the map -----------------------------------------------------------------------
  let FEEL = {};  // stage id -> its experience, of the map on show
  let RESENTED = new Set();

  function feelLine(id) {
    const f = FEEL[id];
    if (!f) return null;
    const bits = [];
    if (f.nps && f.nps.n) bits.push(`NPS ${f.nps.nps >= 0 ? "+" : ""}${f.nps.nps.toFixed(0)}`);
    if (f.csat && f.csat.n) bits.push(`CSAT ${pct(f.csat.csat, 0)}`);
    if (f.tickets && f.tickets.per_100 !== null && f.tickets.tickets) bits.push(`${f.tickets.per_100.toFixed(1)} tickets/100`);
    return bits.length ? h("span", { class: "feel" }, bits.join(" · ")) : null;
  }

  function stageCard(s, k, link, before) {
    return h(link ? "a" : "div", { class: "stage" + (s.outcome ? " is-outcome" : "") + (before ? " v-" + judged(before) : ""),
      role: "listitem", style: `grid-column: ${2 * k + 1} / span 2`,
      href: link ? "/stage/" + encodeURIComponent(s.id) + query({ persona: link.persona }) : null,
      "aria-label": `Stage ${k + 1}, ${s.name}: ${count(s.entered)} entered, owner ${s.owner || "none"}` + (link ? ". Open the stage" : "") },
    h("span", { class: "num" }, `Stage ${k + 1}` + (s.outcome ? " · bad outcome" : "")),
    h("span", { class: "name" }, s.name),
    s.owner ? h("span", { class: "chip owner", title: s.owner }, s.owner) : null,
    s.goal ? h("span", { class: "goal", title: s.goal }, s.goal) : null,
    RESENTED.has(s.id) ? h("span", { class: "chip resented", title: "progression fine, experience poor" }, "resented") : null,
    feelLine(s.id),
    h("span", { class: "entered" }, count(s.entered), h("small", {}, "entered")));
  }

  function handoffBox(s, k, hand, nextName) {
    const kind = judged(s);
    const bm = s.benchmark;
    return h("div", { class: "handoff " + kind, role: "listitem", style: `grid-column: ${2 * k + 2} / span 2`,
      "aria-label": `${s.name} to ${nextName}: ${pct(s.rate)} went on` },
    h("span", { class: "arrow", title: `${s.name} → ${nextName}` }, "→ " + nextName + (s.lower_is_better ? " ↓" : "")),
    h("span", { class: "rate" }, pct(s.rate)),
    h("span", {}, "95% CI " + ci(s.rate_ci)),
    h("span", {}, "median " + dur(s.median_time_to_next_s) + " · p90 " + dur(s.p90_time_to_next_s)),
    h("span", { class: "lost" }, (s.lower_is_better ? count(s.advanced) + " went" : "−" + count(s.drop_off) + " lost")),
    hand && hand.owner ? h("span", {}, (hand.declared ? "handoff: " : "owner: ") + hand.owner) : null,
    bm ? h("span", {}, h("span", { class: "verdict" }, s.verdict), ` vs ${pct(bm.low, 0)}–${pct(bm.high, 0)}`) : h("span", { class: "note" }, "no benchmark"));
  }

  function strip(map, link) {
    const hands = Object.fromEntries((map.handoffs || []).map((x) => [x.from, x]));
    const names = Object.fromEntries(map.stages.map((s) => [s.id, s.name]));
    const n = map.stages.length;
    const parts = [];
    map.stages.forEach((s, k) => {
      parts.push(stageCard(s, k, link, k > 0 ? map.stages[k - 1] : null));
      if (s.next) parts.push(handoffBox(s, k, hands[s.id], names[s.next] || s.next));
    });
    return h("div", {}, h("div", { class: "strip", role: "list", "aria-label": "Stages left to right, each move to the next stage below the seam",
      style: `grid-template-columns: repeat(${2 * n}, minmax(62px, 1fr))` }, parts),
      h("div", { class: "legend" },
        h("span", {}, h("i", { style: "background:#fdecea;border:1px solid #f3b5ae" }), "below its benchmark (into a bad outcome: above)"),
        h("span", {}, h("i", { style: "background:#e7f6ee;border:1px solid #a9dcc0" }), "within its benchmark or better"),
        h("span", {}, h("i", { style: "background:#eef1f6;border:1px solid #d9dee7" }), "no benchmark"),
        h("span", {}, "rates: share who went on to the next stage, Wilson 95% interval; click a stage for its detail")));
  }

  function leaksPanel(map) {
    const items = (map.leaks || []).map((lk, i) => h("div", { class: "leak" },
      h("div", { class: "what" }, `${i + 1}. ${nameOf(lk.from)} → ${nameOf(lk.to)}` + (lk.direction === "lower" ? " (to lower)" : "")),
      h("div", { class: "numbers" },
        `${count(lk.lost)} customers ${lk.direction === "lower" ? "went" : "lost"} · rate ${pct(lk.rate)} (95% CI ${ci(lk.rate_ci)})` +
        (lk.target_rate !== null ? ` · 90-day target ${pct(lk.target_rate)}` : "") +
        ` · owner ${lk.owner || "unassigned"}` +
        ` · at stake ${Number(lk.value_at_stake).toLocaleString("en-US", { maximumFractionDigits: 0 })} ${lk.value_unit}`)));
    return h("section", { class: "panel", "aria-labelledby": "leaks-h" }, h("h2", { id: "leaks-h" }, "Top leaks"),
      items.length ? items : h("p", { class: "note" }, "No transition lost customers at the minimum volume."));
  }

  function findingsPanel(map) {
    return h("section", { class: "panel", "aria-labelledby": "find-h" }, h("h2", { id: "find-h" }, "Findings"),
      map.findings && map.findings.length ? h("ol", { class: "findings" }, map.findings.map((f) => h("li", {}, f)))
        : h("p", { class: "note" }, "Nothing to report."));
  }

  let NAMES = {};  // stage id -> name, of the map on show
  const nameOf = (id) => NAMES[id] || id;
  function transitionLabel(s) { return `${s.name} → ${nameOf(s.next)}`; }

  function rateChart(map) {
    const rows = map.stages.filter((s) => s.next);
    const colour = { bad: "#b42318", good: "#0a6b3d", none: "#5b6b84" };
    const fig = {
      data: [{ type: "bar", x: rows.map((s) => plotText(transitionLabel(s))), y: rows.map((s) => s.rate),
        marker: { color: rows.map((s) => colour[judged(s)]) },
        error_y: { type: "data", symmetric: false, color: "#1b2333",
          array: rows.map((s) => (s.rate_ci ? s.rate_ci[1] - s.rate : 0)),
          arrayminus: rows.map((s) => (s.rate_ci ? s.rate - s.rate_ci[0] : 0)) },
        hovertemplate: "%{x}<br>%{y:.1%}<extra></extra>" }],
      layout: { yaxis: { tickformat: ".0%", range: [0, 1.05], title: "advanced" },
        shapes: rows.map((s, i) => s.benchmark ? { type: "rect", xref: "x", yref: "y", x0: i - 0.45, x1: i + 0.45,
          y0: s.benchmark.low, y1: s.benchmark.high, fillcolor: "rgba(11,107,99,.10)", line: { color: "rgba(11,107,99,.6)", dash: "dot", width: 1 } } : null).filter(Boolean) },
    };
    const data = table([{ label: "transition", cell: transitionLabel }, { label: "rate", n: 1, cell: (s) => pct(s.rate) },
      { label: "95% CI", n: 1, cell: (s) => ci(s.rate_ci) },
      { label: "benchmark", n: 1, cell: (s) => (s.benchmark ? `${pct(s.benchmark.low, 0)}–${pct(s.benchmark.high, 0)}` : "–") },
      { label: "verdict", cell: (s) => s.verdict || "–" }], rows);
    return chart("Progression rate of each transition", "Bars: share of those who entered a stage who went on to the next, with 95% intervals; dotted boxes: benchmark ranges; red: below benchmark.", fig, data);
  }

  function personaChart(map) {
    const ids = Object.keys(map.personas || {});
    if (!ids.length) return null;
    const rows = map.stages.filter((s) => s.next);
    const fig = {
      data: ids.map((p) => ({ type: "bar", name: plotText(p), x: rows.map((s) => plotText(transitionLabel(s))),
        y: map.personas[p].filter((s) => s.next).map((s) => s.rate), hovertemplate: "%{x}<br>%{y:.1%}<extra>" + plotText(p) + "</extra>" })),
      layout: { barmode: "group", showlegend: true, legend: { orientation: "h", y: 1.12 }, yaxis: { tickformat: ".0%", range: [0, 1.05] } },
    };
    const data = table([{ label: "persona", key: "persona" }, ...rows.map((s, i) => ({ label: transitionLabel(s), n: 1, cell: (r) => pct(r.rates[i]) }))],
      ids.map((p) => ({ persona: p, rates: map.personas[p].filter((s) => s.next).map((s) => s.rate) })));
    return chart("Progression by persona", "Grouped bars: each persona's progression rate for every transition.", fig, data);
  }

  function groupsPanel(map) {
    const groups = Object.keys(map.groups || {});
    if (!map.by || !groups.length) return null;
    const rows = map.stages.filter((s) => s.next);
    const z = groups.map((g) => map.groups[g].filter((s) => s.next).map((s) => s.rate));
    const fig = {
      data: [{ type: "heatmap", x: rows.map((s) => plotText(transitionLabel(s))), y: groups.map(plotText), z,
        colorscale: [[0, "#b42318"], [0.5, "#f4e3b5"], [1, "#0a6b3d"]], zmin: 0, zmax: 1,
        hovertemplate: "%{y}: %{x}<br>%{z:.1%}<extra></extra>", colorbar: { tickformat: ".0%" } }],
      layout: { margin: { l: 140, r: 20, t: 10, b: 90 } },
    };
    const data = table([{ label: map.by, key: "group" }, { label: "entered", n: 1, cell: (r) => count(map.groups[r.group][0].entered) },
      ...rows.map((s, i) => ({ label: transitionLabel(s), n: 1, cell: (r) => pct(map.groups[r.group][i].rate) }))],
    groups.map((g) => ({ group: g })));
    return h("section", { class: "panel" }, chart(`Progression by ${map.by}`, `Heat map: progression rate of each transition for each value of ${map.by} (read on stage-1 entry, or the user's trait); the 20 largest groups.`, fig, data, Math.max(260, 40 + 28 * groups.length)));
  }

  const signed = (x) => (x === null || x === undefined ? "–" : (x >= 0 ? "+" : "") + x.toFixed(0));
  const span = (c, f) => (c ? `${f(c[0])} to ${f(c[1])}` : "–");

  function experienceTable(rows) {
    const cell = (kind, f) => (r) => {
      const s = r[kind];
      return s && s.n ? `${f(s[kind])} (${count(s.n)})` : "–";
    };
    return table([
      { label: "stage", cell: (r) => [nameOf(r.stage), RESENTED.has(r.stage) ? h("span", { class: "chip resented" }, "resented") : null] },
      { label: "NPS (answers)", n: 1, cell: cell("nps", signed) }, { label: "NPS 95% CI", n: 1, cell: (r) => (r.nps ? span(r.nps.nps_ci, signed) : "–") },
      { label: "CSAT (answers)", n: 1, cell: cell("csat", (x) => pct(x, 0)) }, { label: "CSAT 95% CI", n: 1, cell: (r) => (r.csat ? span(r.csat.csat_ci, (x) => pct(x, 0)) : "–") },
      { label: "CES (answers)", n: 1, cell: cell("ces", (x) => x.toFixed(1)) }, { label: "CES 95% CI", n: 1, cell: (r) => (r.ces ? span(r.ces.ces_ci, (x) => x.toFixed(1)) : "–") },
      { label: "tickets / 100", n: 1, cell: (r) => (r.tickets && r.tickets.per_100 !== null ? r.tickets.per_100.toFixed(1) : "–") },
      { label: "median resolve", n: 1, cell: (r) => (r.tickets && r.tickets.median_resolution_h !== null ? r.tickets.median_resolution_h.toFixed(1) + "h" : "–") },
      { label: "distinctive comment terms", cell: (r) => (r.terms || []).slice(0, 4).map((t) => t.term).join(", ") }], rows);
  }

  function experiencePanel(map) {
    if (!map.experience) return null;
    const rows = map.experience.stages;
    const stages = rows.filter((r) => NAMES[r.stage] && r.csat && r.csat.n);
    const fig = stages.length ? {
      data: [{ type: "bar", x: stages.map((r) => plotText(nameOf(r.stage))), y: stages.map((r) => r.csat.csat),
        marker: { color: stages.map((r) => (RESENTED.has(r.stage) ? "#b42318" : "#0b6b63")) },
        error_y: { type: "data", symmetric: false, array: stages.map((r) => r.csat.csat_ci[1] - r.csat.csat),
          arrayminus: stages.map((r) => r.csat.csat - r.csat.csat_ci[0]) }, hovertemplate: "%{x}: %{y:.0%} satisfied<extra></extra>" }],
      layout: { yaxis: { tickformat: ".0%", range: [0, 1.05], title: "CSAT (4–5)" } } } : null;
    const problems = map.experience.problems || [];
    return h("section", { class: "panel", "aria-labelledby": "feel-h" }, h("h2", { id: "feel-h" }, "How each stage feels"),
      h("p", { class: "note" }, "Survey answers and tickets, each counted in the stage the customer was in at that moment. Resented: people go on, but the experience is poor."),
      fig ? chart("Satisfied customers (CSAT) by stage", "Bars: share of CSAT answers of 4 or 5 given in each stage, with Wilson 95% intervals; red: a resented stage.", fig,
        table([{ label: "stage", cell: (r) => nameOf(r.stage) }, { label: "CSAT", n: 1, cell: (r) => pct(r.csat.csat, 0) },
          { label: "95% CI", n: 1, cell: (r) => span(r.csat.csat_ci, (x) => pct(x, 0)) }, { label: "answers", n: 1, cell: (r) => count(r.csat.n) }], stages), 260) : null,
      experienceTable(rows),
      problems.length ? h("p", { class: "note" }, "Left out as bad data: " + problems.map((p) => `${p.count === null ? "all" : count(p.count)} ${p.signal} rows (${p.problem})`).join("; ")) : null);
  }

  function cohortsPanel(map) {
    if (!map.cohorts || !map.cohorts.length) return null;
    return h("section", { class: "panel" }, h("h2", {}, `Entry cohorts (${map.computed_on.period})`),
      h("p", { class: "note" }, "Immature cohorts (time limit not yet over) are listed in grey and left out of the rates above."),
      table([{ label: "stage", key: "stage" }, { label: "cohort", key: "cohort" }, { label: "entered", n: 1, cell: (c) => count(c.entered) },
        { label: "advanced", n: 1, cell: (c) => count(c.advanced) }, { label: "rate → next", n: 1, cell: (c) => pct(c.rate) },
        { label: "95% CI", n: 1, cell: (c) => ci(c.rate_ci) }, { label: "", cell: (c) => (c.immature ? "immature" : "") }],
      map.cohorts, { rowClass: (c) => (c.immature ? "immature" : null) }));
  }

  function renderMap(app, map, meta, link = {}) {
    NAMES = Object.fromEntries(map.stages.map((s) => [s.id, s.name]));
    FEEL = map.experience ? Object.fromEntries(map.experience.stages.map((f) => [f.stage, f])) : {};
    RESENTED = new Set((map.resented || []).map((r) => r.stage));
    const on = map.computed_on;
    const scope = [on.persona ? "persona " + on.persona : "all customers", on.period ? on.period + "ly cohorts, mature only" : null, map.by ? "by " + map.by : null].filter(Boolean).join(" · ");
    app.replaceChildren(
      h("section", { class: "panel", "aria-labelledby": "map-h" },
        h("h2", { id: "map-h" }, "The journey, measured"),
        h("p", { class: "note" }, `${count(on.users)} customers entered · ${scope} · data to ${day(on.data_end)}`),
        strip(map, link)),
      h("div", { class: "grid2" }, leaksPanel(map), findingsPanel(map)),
      h("section", { class: "panel" }, rateChart(map)),
      ...[experiencePanel(map), personaChart(map) ? h("section", { class: "panel" }, personaChart(map)) : null,
        groupsPanel(map), cohortsPanel(map)].filter(Boolean));
  }

  // ---- one stage ---------------------------------------------------------------------
  function renderStage(app, d) {
    const s = d.stage;
    RESENTED = new Set(d.resented ? [s.id] : []);
    const kpis = [["entered", count(s.entered)], ["advanced to " + (d.next_name || s.next || "–"), count(s.advanced)],
      ["progression (95% CI)", pct(s.rate) + " (" + ci(s.rate_ci) + ")"], ["median / p90 to next", dur(s.median_time_to_next_s) + " / " + dur(s.p90_time_to_next_s)],
      ["benchmark", s.benchmark ? `${pct(s.benchmark.low, 0)}–${pct(s.benchmark.high, 0)} · ${s.verdict}` : "none"],
      ["stuck now", d.stuck ? `${count(d.stuck.stuck)} (${count(d.stuck.can_still_advance)} can still advance)` : "–"]];
    d.next_name = d.next_name || s.next;
    const parts = [
      h("p", { class: "sub" }, [s.goal, s.owner ? "owner " + s.owner : null, s.touchpoints.length ? "touchpoints: " + s.touchpoints.join(", ") : null,
        s.actions.length ? "actions: " + s.actions.join(", ") : null, d.persona ? "persona " + d.persona : null].filter(Boolean).join(" · ")),
      h("div", { class: "kpis" }, kpis.map(([l, v]) => h("div", { class: "kpi" }, h("div", { class: "v" }, v), h("div", { class: "l" }, l))))];
    if (d.cohorts.length) {
      const mature = d.cohorts.filter((c) => !c.immature), young = d.cohorts.filter((c) => c.immature);
      const trace = (rows, name, color, open) => ({ type: "scatter", mode: "lines+markers", name, x: rows.map((c) => c.cohort.slice(0, 10)), y: rows.map((c) => c.rate),
        marker: { color, size: 9, symbol: open ? "circle-open" : "circle" }, line: { color, dash: open ? "dot" : "solid" },
        error_y: { type: "data", symmetric: false, color, array: rows.map((c) => (c.rate_ci ? c.rate_ci[1] - c.rate : 0)), arrayminus: rows.map((c) => (c.rate_ci ? c.rate - c.rate_ci[0] : 0)) },
        hovertemplate: "%{x}: %{y:.1%}<extra>" + name + "</extra>" });
      const fig = { data: [trace(mature, "mature", "#0b6b63", false), trace(young, "immature", "#8a94a6", true)],
        layout: { showlegend: true, legend: { orientation: "h", y: 1.12 }, yaxis: { tickformat: ".0%", range: [0, 1.05] },
          shapes: s.benchmark ? [{ type: "rect", xref: "paper", x0: 0, x1: 1, y0: s.benchmark.low, y1: s.benchmark.high, fillcolor: "rgba(11,107,99,.08)", line: { width: 0 } }] : [] } };
      parts.push(h("section", { class: "panel" }, chart(`Progression by ${d.period}ly entry cohort`,
        `Line: share of each ${d.period}'s entrants who went on to ${d.next_name}, with 95% intervals; hollow grey points are immature cohorts (their time limit is not over yet): they are left out of the stage's rate.`, fig,
        table([{ label: "cohort", key: "cohort" }, { label: "entered", n: 1, cell: (c) => count(c.entered) }, { label: "advanced", n: 1, cell: (c) => count(c.advanced) },
          { label: "rate", n: 1, cell: (c) => pct(c.rate) }, { label: "95% CI", n: 1, cell: (c) => ci(c.rate_ci) }, { label: "", cell: (c) => (c.immature ? "immature" : "") }],
        d.cohorts, { rowClass: (c) => (c.immature ? "immature" : null) }))));
    }
    const row = [];
    if (s.time_to_next && s.time_to_next.n) {
      const b = s.time_to_next.distribution;
      const labels = Object.keys(b);
      row.push(h("section", { class: "panel" }, chart(`Time to ${d.next_name}`, `Bars: how long the ${count(s.time_to_next.n)} who advanced took to reach ${d.next_name} from entering ${s.name} (mean ${dur(s.time_to_next.mean_s)}, median ${dur(s.median_time_to_next_s)}, p90 ${dur(s.p90_time_to_next_s)}).`,
        { data: [{ type: "bar", x: labels, y: labels.map((k) => b[k]), marker: { color: "#0b6b63" }, hovertemplate: "%{x}: %{y:,}<extra></extra>" }], layout: { yaxis: { title: "customers" } } },
        table([{ label: "time", key: "k" }, { label: "customers", n: 1, cell: (r) => count(r.v) }], labels.map((k) => ({ k, v: b[k] }))))));
    }
    if (d.breakdown) {
      const g = d.breakdown.groups;
      row.push(h("section", { class: "panel" }, chart(`Progression by ${d.breakdown.by}`, `Bars: progression to ${d.next_name} for each value of ${d.breakdown.by}, with 95% intervals.`,
        { data: [{ type: "bar", x: g.map((r) => plotText(r.group)), y: g.map((r) => r.rate), marker: { color: "#1f2a44" },
          error_y: { type: "data", symmetric: false, array: g.map((r) => (r.rate_ci ? r.rate_ci[1] - r.rate : 0)), arrayminus: g.map((r) => (r.rate_ci ? r.rate - r.rate_ci[0] : 0)) },
          hovertemplate: "%{x}: %{y:.1%}<extra></extra>" }], layout: { yaxis: { tickformat: ".0%", range: [0, 1.05] } } },
        table([{ label: d.breakdown.by, key: "group" }, { label: "entered", n: 1, cell: (r) => count(r.entered) }, { label: "rate", n: 1, cell: (r) => pct(r.rate) }, { label: "95% CI", n: 1, cell: (r) => ci(r.rate_ci) }], g))));
    }
    if (row.length) parts.push(h("div", { class: row.length > 1 ? "grid2" : "" }, row));
    if (d.paths) {
      const pathTable = (p) => table([{ label: "path", cell: (r) => r.path.join(" → ") }, { label: "customers", n: 1, cell: (r) => count(r.users) }, { label: "share", n: 1, cell: (r) => pct(r.share) }], p.paths.slice(0, 12));
      parts.push(h("div", { class: "grid2" },
        h("section", { class: "panel" }, h("h2", {}, `What those who advanced did (${count(d.paths.advanced.users)})`), pathTable(d.paths.advanced)),
        h("section", { class: "panel" }, h("h2", {}, `What those who dropped did (${count(d.paths.dropped.users)})`), pathTable(d.paths.dropped))));
    }
    if (d.experience) {
      const f = d.experience;
      const by = (o) => Object.entries(o || {}).map(([k, v]) => ({ k, tickets: v.tickets, per: v.per_100 }));
      parts.push(h("section", { class: "panel" }, h("h2", {}, "How this stage feels"),
        experienceTable([f]),
        f.tickets && f.tickets.tickets ? h("div", { class: "grid2", style: "margin-top:12px" },
          h("div", {}, h("h3", {}, "Tickets by channel"), table([{ label: "channel", key: "k" }, { label: "tickets", n: 1, cell: (r) => count(r.tickets) }, { label: "per 100", n: 1, cell: (r) => (r.per === null ? "–" : r.per.toFixed(1)) }], by(f.tickets.by_channel))),
          h("div", {}, h("h3", {}, "Tickets by topic"), table([{ label: "topic", key: "k" }, { label: "tickets", n: 1, cell: (r) => count(r.tickets) }, { label: "per 100", n: 1, cell: (r) => (r.per === null ? "–" : r.per.toFixed(1)) }], by(f.tickets.by_topic)))) : null));
    }
    if (d.drivers && (d.drivers.drivers.length || d.drivers.blockers.length)) {
      const dr = d.drivers;
      const pop = Object.entries(dr.population)[0];
      const odds = (x) => (x === null || x === undefined ? "–" : x < 10 ? x.toFixed(2) : Math.round(x).toLocaleString("en-US"));
      const cols = [{ label: "behaviour", key: "behaviour" }, { label: "did", n: 1, cell: (r) => `${count(r.did)} (${pct(r.share, 0)})` },
        { label: `reached ${d.next_name} if did`, n: 1, cell: (r) => pct(r.rate_did) }, { label: "if not", n: 1, cell: (r) => pct(r.rate_not) },
        { label: "lift", n: 1, cell: (r) => (r.lift ? r.lift.toFixed(2) + "×" : "–") },
        { label: "odds ratio (95% CI)", n: 1, cell: (r) => `${odds(r.odds_ratio)} (${odds(r.odds_ratio_ci[0])}–${odds(r.odds_ratio_ci[1])})` },
        { label: "within personas", n: 1, cell: (r) => odds(r.mh_odds_ratio) }, { label: "q", n: 1, cell: (r) => r.q_value.toPrecision(2) }];
      parts.push(h("section", { class: "panel", "aria-labelledby": "drivers-h" }, h("h2", { id: "drivers-h" }, `What those who went on did first (within ${pop[0]})`),
        h("p", { class: "note" }, `${count(pop[1].eligible)} customers whose window is over; ${count(pop[1].left_out)} more are too recent. Behaviours counted after entering ${s.name} and before advancing. ${dr.caution}`),
        h("h3", {}, "Drivers: more likely to go on"), table(cols, dr.drivers.slice(0, 8)),
        h("h3", { style: "margin-top:14px" }, "Blockers: less likely to go on"),
        dr.blockers.length ? table(cols, dr.blockers.slice(0, 8)) : h("p", { class: "note" }, "None found at this support.")));
    }
    if (d.stuck && d.stuck.stuck) {
      parts.push(h("section", { class: "panel" }, h("h2", {}, "Customers stuck here now"),
        h("p", {}, `${count(d.stuck.stuck)} of ${count(d.stuck.in_stage)} customers in ${s.name} are stuck; ${count(d.stuck.can_still_advance)} of them can still advance. `,
          h("a", { href: "/customers" + query({ stage: s.id }) }, "See the list"), " · ",
          h("a", { href: "/api/stuck.csv" + query({ stage: s.id }), download: `stuck-${s.id}.csv` }, "Download CSV"))));
    }
    app.replaceChildren(...parts);
  }

  // ---- the actual journey ------------------------------------------------------------
  function stageSankey(actual) {
    // forward moves only (a Sankey cannot draw loops); backtracks are in the tables below
    const order = ["$start", ...Object.keys(NAMES), "$end"];
    const rank = (n) => (order.indexOf(n) < 0 ? order.length : order.indexOf(n));
    const edges = actual.stage_transitions.edges.filter((e) => rank(e.to) > rank(e.from));
    const names = [];
    const at = (n) => { let i = names.indexOf(n); if (i < 0) { names.push(n); i = names.length - 1; } return i; };
    const links = { source: [], target: [], value: [] };
    edges.forEach((e) => { links.source.push(at(e.from)); links.target.push(at(e.to)); links.value.push(e.count); });
    const label = (n) => (n === "$start" ? "first event" : n === "$end" ? "went no further" : nameOf(n));
    return { data: [{ type: "sankey", arrangement: "snap", node: { label: names.map((n) => plotText(label(n))), pad: 14, thickness: 16, color: "#1f2a44" },
      link: Object.assign(links, { color: "rgba(11,107,99,.28)" }) }], layout: { margin: { l: 10, r: 10, t: 10, b: 10 } } };
  }

  function renderPaths(app, actual, controls) {
    const c = actual.conformance;
    const kinds = Object.entries(c.kinds).map(([k, n]) => `${k.replace("_", " ")} ${count(n)}`).join(" · ");
    const sankey = actual.sankey.data[0];
    sankey.node.label = sankey.node.label.map(plotText);
    const pathCols = [{ label: "path", cell: (r) => r.path.join(" → ") }, { label: "customers", n: 1, cell: (r) => count(r.users) }, { label: "share", n: 1, cell: (r) => pct(r.share) }];
    app.replaceChildren(
      controls || "",
      h("div", { class: "kpis" },
        h("div", { class: "kpi" }, h("div", { class: "v" }, pct(c.conforming_share)), h("div", { class: "l" }, `follow the designed stage order (${count(c.conforming)} of ${count(c.users)})`)),
        h("div", { class: "kpi" }, h("div", { class: "v" }, count(c.kinds.backtrack)), h("div", { class: "l" }, "went back to an earlier stage")),
        h("div", { class: "kpi" }, h("div", { class: "v" }, count(c.kinds.loop)), h("div", { class: "l" }, "repeated a stage")),
        h("div", { class: "kpi" }, h("div", { class: "v" }, count(c.kinds.skip)), h("div", { class: "l" }, "skipped a stage"))),
      h("section", { class: "panel" }, chart("Stage to stage: what customers actually do", "Sankey of forward moves between stages, from each customer's first event to the last stage they reached; backtracks and loops are counted in the tables below.", stageSankey(actual),
        table([{ label: "from", key: "from" }, { label: "to", key: "to" }, { label: "moves", n: 1, cell: (e) => count(e.count) }, { label: "customers", n: 1, cell: (e) => count(e.users) }, { label: "median", n: 1, cell: (e) => dur(e.median_s) }], actual.stage_transitions.edges), 380)),
      h("section", { class: "panel" }, chart("Top event paths", "Sankey of the most common sequences of events (top paths, step by step).", { data: [Object.assign(sankey, { node: Object.assign(sankey.node, { pad: 12, thickness: 14, color: "#0b6b63" }) })], layout: { margin: { l: 10, r: 10, t: 10, b: 10 } } },
        table(pathCols, actual.paths.paths), 420)),
      h("div", { class: "grid2" },
        h("section", { class: "panel" }, h("h2", {}, "Top paths"), table(pathCols, actual.paths.paths.slice(0, 15))),
        h("section", { class: "panel" }, h("h2", {}, "Exits: the last thing customers did before going silent"),
          table([{ label: "last event", key: "event" }, { label: "stage", key: "stage" }, { label: "customers", n: 1, cell: (r) => count(r.users) }], actual.exits))),
      h("div", { class: "grid2" },
        h("section", { class: "panel" }, h("h2", {}, "Loops: repeated events"),
          table([{ label: "event", key: "name" }, { label: "customers", n: 1, cell: (r) => count(r.users) }, { label: "repeated by", n: 1, cell: (r) => pct(r.repeat_share) },
            { label: "mean times", n: 1, cell: (r) => (r.mean_times_when_repeated || 0).toFixed(1) }, { label: "max", n: 1, cell: (r) => count(r.max_times) }], actual.repeats.slice(0, 12))),
        h("section", { class: "panel" }, h("h2", {}, "Conformance to the designed order"),
          h("p", {}, `${pct(c.conforming_share)} follow the stages in order; deviations: ${kinds}` + (c.win_backs ? `; ${count(c.win_backs)} won back from a bad outcome` : "") + "."),
          table([{ label: "stage", key: "stage" }, { label: "loops", n: 1, cell: (r) => count(r.loop_users) }, { label: "backtracks", n: 1, cell: (r) => count(r.backtrack_users) },
            { label: "skips", n: 1, cell: (r) => count(r.skip_users) }, { label: "win-backs", n: 1, cell: (r) => count(r.win_back_users) }], actual.stage_moves),
          h("h3", { style: "margin-top:12px" }, "Most common deviating stage sequences"),
          table(pathCols, c.deviating_traces))));
  }

  // ---- KPIs --------------------------------------------------------------------------
  function kpiValue(k) {
    const v = k.value;
    if (v === null || v === undefined) return "–";
    if (k.unit === "share") return pct(v);
    if (k.unit === "money") return Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 });
    if (k.unit === "seconds") return dur(v);
    return Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 });
  }

  function renderKpis(app, r) {
    const money = (x) => (x === null || x === undefined ? "–" : Number(x).toLocaleString("en-US", { maximumFractionDigits: 2 }));
    const headline = ["conversion_rate", "cost_per_conversion", "churn_rate_per_month", "net_revenue_retention_per_month",
      "clv_projected", "time_to_first_value"].map((n) => r.kpis.find((k) => k.name === n)).filter(Boolean);
    const byChannel = (key, rows) => rows.length ? h("section", { class: "panel" }, h("h2", {}, `By ${key} (first touch)`),
      table([{ label: key, key }, { label: "impressions", n: 1, cell: (x) => count(x.impressions) }, { label: "clicks", n: 1, cell: (x) => count(x.clicks) },
        { label: "CTR", n: 1, cell: (x) => pct(x.click_through_rate) }, { label: "cost", n: 1, cell: (x) => money(x.cost) },
        { label: "leads", n: 1, cell: (x) => count(x.leads) }, { label: "cost / lead", n: 1, cell: (x) => money(x.cost_per_lead) },
        { label: "conversions", n: 1, cell: (x) => count(x.conversions) }, { label: "cost / conversion", n: 1, cell: (x) => money(x.cost_per_conversion) }], rows)) : null;
    const periods = r.periods.filter((p) => p.churn_rate !== null);
    const churnFig = periods.length ? chart(`Churn rate per ${r.computed_on.period}`, `Line: customers who churned in each ${r.computed_on.period} ÷ customers active at its start, with Wilson 95% intervals; the last, incomplete period is drawn hollow.`,
      { data: [{ type: "scatter", mode: "lines+markers", x: periods.map((p) => p.period), y: periods.map((p) => p.churn_rate),
        marker: { color: "#1f2a44", size: 8, symbol: periods.map((p) => (p.complete ? "circle" : "circle-open")) }, line: { color: "#1f2a44" },
        error_y: { type: "data", symmetric: false, array: periods.map((p) => p.churn_rate_ci[1] - p.churn_rate), arrayminus: periods.map((p) => p.churn_rate - p.churn_rate_ci[0]) },
        hovertemplate: "%{x}: %{y:.1%}<extra></extra>" }], layout: { yaxis: { tickformat: ".0%", rangemode: "tozero" } } },
      table([{ label: r.computed_on.period, cell: (p) => p.period + (p.complete ? "" : " (incomplete)") }, { label: "active at start", n: 1, cell: (p) => count(p.active_at_start) },
        { label: "churned", n: 1, cell: (p) => count(p.churned) }, { label: "churn rate", n: 1, cell: (p) => pct(p.churn_rate) }, { label: "95% CI", n: 1, cell: (p) => ci(p.churn_rate_ci) }], periods), 280) : null;
    app.replaceChildren(...[
      h("h1", {}, "Journey KPIs"),
      h("p", { class: "sub" }, `${count(r.computed_on.users)} customers in the journey · data to ${day(r.computed_on.data_end)} · lead: ${r.computed_on.lead || "–"} · conversion: ${r.computed_on.conversion}`),
      h("div", { class: "kpis" }, headline.map((k) => h("div", { class: "kpi" }, h("div", { class: "v" }, kpiValue(k)), h("div", { class: "l" }, k.name.replace(/_/g, " "))))),
      h("section", { class: "panel" }, h("h2", {}, "Every KPI, with what it counts"),
        table([{ label: "KPI", cell: (k) => k.name.replace(/_/g, " ") }, { label: "value", n: 1, cell: kpiValue },
          { label: "95% CI", n: 1, cell: (k) => (k.ci && k.unit === "share" ? ci(k.ci) : "–") }, { label: "n", n: 1, cell: (k) => count(k.n) },
          { label: "definition", key: "definition" }], r.kpis)),
      byChannel("channel", r.channels), byChannel("campaign", r.campaigns),
      churnFig ? h("section", { class: "panel" }, churnFig) : null,
      r.periods.length ? h("section", { class: "panel" }, h("h2", {}, `Revenue by ${r.computed_on.period}`),
        table([{ label: r.computed_on.period, cell: (p) => p.period + (p.complete ? "" : " (incomplete)") }, { label: "revenue", n: 1, cell: (p) => money(p.revenue) },
          { label: "paying", n: 1, cell: (p) => count(p.paying_customers) }, { label: "ARPU", n: 1, cell: (p) => money(p.arpu) },
          { label: "net revenue retention", n: 1, cell: (p) => pct(p.net_revenue_retention) }], r.periods)) : null,
      r.tickets.length ? h("section", { class: "panel" }, h("h2", {}, "Tickets by channel"),
        table([{ label: "channel", key: "channel" }, { label: "tickets", n: 1, cell: (t) => count(t.tickets) }, { label: "share", n: 1, cell: (t) => pct(t.share) }], r.tickets)) : null,
      r.problems.length ? h("section", { class: "panel" }, h("h2", {}, "Data left out"),
        h("ul", {}, r.problems.map((p) => h("li", {}, p.problem + (p.count ? ` — ${count(p.count)} rows` : "") + (p.example && p.example.line ? ` (e.g. line ${p.example.line} of ${p.example.file})` : ""))))) : null,
    ].filter(Boolean));
  }

  async function kpisPage(app) {
    const body = h("div", {});
    app.replaceChildren(body);
    try { renderKpis(body, await api("/api/kpis", working(body, "Computing the KPIs…"))); } catch (err) { failed(body, err); }
  }

  // ---- customers ---------------------------------------------------------------------
  function statusBadge(status) {
    return h("span", { class: "status " + status.replace(" ", "-") }, status);
  }

  function renderCustomer(box, c) {
    const here = c.stages.findIndex((s) => s.id === c.stage);
    box.replaceChildren(h("section", { class: "panel", "aria-labelledby": "cust-h" },
      h("h2", { id: "cust-h" }, c.user_id, c.looked_up !== c.user_id ? h("span", { class: "note" }, ` (looked up as ${c.looked_up})`) : null),
      h("p", {}, statusBadge(c.status), " ", c.stage ? `in ${c.stage_name} since ${day(c.since)} (${dur(c.time_in_stage_s)}), owner ${c.owner || "–"}` : "has not entered the journey"),
      c.reason ? h("p", { class: "note" }, "Why: " + c.reason) : null,
      h("p", { class: "note" }, `personas: ${c.personas.join(", ") || "none"} · first seen ${day(c.first_seen)} · last seen ${day(c.last_seen)} · data to ${day(c.data_end)}`),
      h("div", { class: "progressline", role: "list", "aria-label": "Stages entered" }, c.stages.map((s, i) =>
        h("div", { role: "listitem", class: "step" + (i < here ? " done" : "") + (i === here ? " here" + (c.status === "stuck" ? "" : " ok") : "") },
          h("div", {}, s.name), h("div", { class: "note" }, s.entered_at ? day(s.entered_at) : (s.skipped ? "skipped" : "–")))))),
    h("section", { class: "panel" }, h("h2", {}, c.timeline.length < c.events_total ? `Timeline: the ${count(c.timeline.length)} most recent of ${count(c.events_total)} events` : `Timeline: ${count(c.events_total)} events`),
      table([{ label: "time (UTC)", cell: (e) => stamp(e.ts) }, { label: "event", key: "event" }, { label: "entered stage", cell: (e) => e.entered.map(nameOf).join(", ") },
        { label: "properties", cell: (e) => h("span", { class: "props" }, Object.entries(e.properties).map(([k, v]) => `${k}=${v}`).join(", ")) }], c.timeline)));
  }

  const STUCK_PAGE = 50;

  function renderStuck(box, s) {
    const more = s.customers.length < s.stuck
      ? h("button", { type: "button", class: "quiet", onclick: async (e) => {
        e.currentTarget.disabled = true;
        const next = await api("/api/stuck" + query({ stage: s.stage, offset: String(s.customers.length), limit: String(STUCK_PAGE) }));
        renderStuck(box, Object.assign(s, { customers: s.customers.concat(next.customers) }));
      } }, `Show ${Math.min(STUCK_PAGE, s.stuck - s.customers.length)} more`) : null;
    box.replaceChildren(h("section", { class: "panel", "aria-labelledby": "stuck-h" },
      h("h2", { id: "stuck-h" }, `Stuck in ${s.stage_name}: ${count(s.stuck)} of ${count(s.in_stage)}`),
      h("p", { class: "note" }, `${count(s.can_still_advance)} can still advance (slower than the p90 of ${dur(s.p90_time_to_next_s)} of those who advanced` +
        (s.within_s ? `, inside the ${dur(s.within_s)} limit` : "") + "); they are listed first. The others are past the limit. Owner " + (s.owner || "–") + `. Data to ${day(s.data_end)}. `,
      h("a", { href: "/api/stuck.csv" + query({ stage: s.stage }), download: `stuck-${s.stage}.csv` }, "Download all as CSV")),
      table([{ label: "customer", cell: (r) => h("a", { href: "/customers" + query({ id: r.user_id, stage: s.stage }) }, r.user_id) }, { label: "entered", cell: (r) => day(r.entered_at) },
        { label: "in stage", n: 1, cell: (r) => dur(r.time_in_stage_s) }, { label: "can still advance", cell: (r) => (r.can_still_advance ? "yes" : "no") },
        { label: "last seen", cell: (r) => day(r.last_seen) }, { label: "personas", cell: (r) => r.personas.join(", ") }, { label: "why", key: "reason" }],
      s.customers, { caption: more ? `${count(s.customers.length)} of ${count(s.stuck)} shown` : null }), more));
  }

  // ---- pages -------------------------------------------------------------------------
  const params = () => new URLSearchParams(location.search);
  function setParams(p) { history.replaceState(null, "", location.pathname + query(p)); }

  async function mapPage(app) {
    const meta = await api("/api/meta");
    const state = { persona: params().get("persona") || "", period: params().get("period") || "", by: params().get("by") || "" };
    const body = h("div", {});
    const redraw = async () => {
      setParams(state);
      body.setAttribute("aria-busy", "true");
      try {
        const map = await api("/api/map" + query(state), working(body, "Measuring the journey…"));
        facts(meta, map);
        renderMap(body, map, meta, { persona: state.persona });
      } catch (err) { failed(body, err); }
      body.setAttribute("aria-busy", "false");
    };
    const controls = h("form", { class: "controls", role: "search", "aria-label": "What to show", onsubmit: (e) => e.preventDefault() },
      select("Persona", "persona", [["", "All customers"], ...meta.personas.map((p) => [p.id, p.name])], state.persona, (v) => { state.persona = v; redraw(); }),
      select("Entry cohorts", "period", [["", "All time"], ["week", "Weekly (mature only)"], ["month", "Monthly (mature only)"]], state.period, (v) => { state.period = v; redraw(); }),
      select("Break down by", "by", [["", "Nothing"], ...meta.by.map((b) => [b, b])], state.by, (v) => { state.by = v; redraw(); }),
      h("a", { class: "button quiet", href: "/report.html" + query({ persona: state.persona, period: state.period }), onclick: (e) => { e.currentTarget.href = "/report.html" + query({ persona: state.persona, period: state.period }); } }, "Download report"));
    app.replaceChildren(h("h1", {}, meta.journey), controls, body);
    await redraw();
  }

  async function stagePage(app) {
    const stage = decodeURIComponent(location.pathname.split("/").pop());
    const meta = await api("/api/meta");
    const names = NAMES = Object.fromEntries(meta.stages.map((s) => [s.id, s.name]));
    const state = { persona: params().get("persona") || "", by: params().get("by") || "", period: params().get("period") || "week",
      exclude: params().get("exclude") || "" };
    const body = h("div", {});
    const hide = h("input", { type: "text", id: "ctl-exclude", name: "exclude", value: state.exclude, placeholder: "e.g. $pageview, session_start" });
    const redraw = async () => {
      setParams(state);
      try {
        const d = await api(`/api/stage/${encodeURIComponent(stage)}` + query(state), working(body, "Measuring the stage…"));
        d.persona = state.persona;
        d.next_name = names[d.stage.next];
        renderStage(body, d);
      } catch (err) { failed(body, err); }
    };
    app.replaceChildren(
      h("p", {}, h("a", { href: "/" + query({ persona: state.persona }) }, "← The map")),
      h("h1", {}, names[stage] || stage),
      h("form", { class: "controls", "aria-label": "What to show", onsubmit: (e) => { e.preventDefault(); state.exclude = hide.value; redraw(); } },
        select("Persona", "persona", [["", "All customers"], ...meta.personas.map((p) => [p.id, p.name])], state.persona, (v) => { state.persona = v; redraw(); }),
        select("Cohorts", "period", [["week", "Weekly"], ["month", "Monthly"]], state.period, (v) => { state.period = v; redraw(); }),
        select("Break down by", "by", [["", "Nothing"], ...meta.by.map((b) => [b, b])], state.by, (v) => { state.by = v; redraw(); }),
        h("label", { for: "ctl-exclude" }, "Hide events in paths", hide),
        h("button", { type: "submit" }, "Apply")), body);
    await redraw();
  }

  async function pathsPage(app) {
    const meta = await api("/api/meta");
    NAMES = Object.fromEntries(meta.stages.map((s) => [s.id, s.name]));
    const state = { persona: params().get("persona") || "", exclude: params().get("exclude") || "" };
    const body = h("div", {});
    const input = h("input", { type: "text", id: "ctl-exclude", name: "exclude", value: state.exclude, placeholder: "e.g. $pageview, session_start" });
    const redraw = async () => {
      setParams(state);
      try {
        renderPaths(body, await api("/api/paths" + query(state), working(body, "Reading every customer's path…")));
      } catch (err) { failed(body, err); }
    };
    app.replaceChildren(h("h1", {}, "The actual journey"),
      h("p", { class: "sub" }, "What customers really do, next to the designed stage order."),
      h("form", { class: "controls", "aria-label": "What to show", onsubmit: (e) => { e.preventDefault(); state.exclude = input.value; redraw(); } },
        select("Persona", "persona", [["", "All customers"], ...meta.personas.map((p) => [p.id, p.name])], state.persona, (v) => { state.persona = v; redraw(); }),
        h("label", { for: "ctl-exclude" }, "Hide events (comma-separated)", input),
        h("button", { type: "submit" }, "Apply")), body);
    await redraw();
  }

  async function customersPage(app) {
    const meta = await api("/api/meta");
    NAMES = Object.fromEntries(meta.stages.map((s) => [s.id, s.name]));
    const found = h("div", {}), list = h("div", {});
    const input = h("input", { type: "search", id: "ctl-id", name: "id", placeholder: "user id or anonymous id", value: params().get("id") || "", autocomplete: "off" });
    const look = async (id) => {
      if (!id) return;
      setParams({ id, stage: params().get("stage") });
      try { renderCustomer(found, await api("/api/customer/" + encodeURIComponent(id), working(found, "Looking up…"))); } catch (err) { failed(found, err); }
    };
    const stuckOf = async (stage) => {
      setParams({ id: params().get("id"), stage });
      if (!stage) { list.replaceChildren(); return; }
      try { renderStuck(list, await api("/api/stuck" + query({ stage, limit: String(STUCK_PAGE) }), working(list, "Finding stuck customers…"))); } catch (err) { failed(list, err); }
    };
    app.replaceChildren(h("h1", {}, "Customers"),
      h("p", { class: "sub" }, "Where one customer is in the journey, and who is stuck where."),
      h("form", { class: "controls", role: "search", "aria-label": "Look up a customer", onsubmit: (e) => { e.preventDefault(); look(input.value.trim()); } },
        h("label", { for: "ctl-id" }, "Customer", input), h("button", { type: "submit" }, "Look up"),
        select("Stuck in stage", "stage", [["", "Choose a stage…"], ...meta.stages.slice(0, -1).map((s) => [s.id, s.name])], params().get("stage") || "", (v) => stuckOf(v))),
      found, list);
    await Promise.all([look(input.value.trim()), stuckOf(params().get("stage") || "")]);
  }

  function reportPage(app) {
    const d = DATA;
    const map = d.map;
    facts(null, map);
    app.replaceChildren(
      h("div", { class: "report-head" }, h("h1", {}, map.journey), h("p", { class: "note" }, `journeymap ${d.version} · generated ${stamp(d.generated)} UTC`)),
      h("div", {}, ""));
    const body = h("div", {});
    renderMap(body, map, null, false);
    const paths = h("div", {});
    renderPaths(paths, d.actual);
    app.appendChild(body);
    app.appendChild(h("h2", { style: "margin-top:28px" }, "The actual journey"));
    app.appendChild(paths);
  }

  const PAGES = { map: mapPage, stage: stagePage, paths: pathsPage, kpis: kpisPage, customers: customersPage, report: reportPage };

  async function boot() {
    const app = document.getElementById("app");
    const page = document.body.dataset.page;
    try {
      await PAGES[page](app);
    } catch (err) { failed(app, err); }
    app.setAttribute("aria-busy", "false");
  }

  window.journeymap = { h, renderMap, renderStage, renderPaths, renderKpis, renderCustomer, renderStuck };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
