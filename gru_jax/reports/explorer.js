/* gru-jax explore: the page's script (inlined by gru_jax/reports/explorer.py, with plotly.js
 * and the data, into one HTML file that fetches nothing).
 *
 * The data (#explorer-data, JSON): {kind: "run" | "sweep", title, populations: [...], grid}.
 * A population's arrays are base64 little-endian ({dtype, shape, b64}) or 8-bit quantised
 * curves ({quantised, axis, codes, lo, step}); the contract is in explorer.py's docstring.
 *
 * window.explorer: seeds (the seed values drawn as points), allSeeds, select(seed),
 * selectCell(i), ready, readyMs (ms from navigation start to interactive).
 */
(function () {
  "use strict";

  const timings = {script: performance.now()};
  const status = document.getElementById("status");
  window.addEventListener("error", function (event) {
    status.textContent = "error: " + event.message;
    status.style.color = "#b00";
  });

  const DATA = JSON.parse(document.getElementById("explorer-data").textContent);
  const GREY = "#bbbbbb";
  const CONFIG = {displaylogo: false, responsive: true};
  const PANEL_CONFIG = {displaylogo: false, responsive: true, displayModeBar: false};

  // ---- decoding ------------------------------------------------------------------------------
  let f16 = null;
  function f16Table() {
    if (f16) return f16;
    f16 = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1, exponent = (h >> 10) & 31, fraction = h & 1023;
      f16[h] = exponent === 0 ? sign * fraction * 5.960464477539063e-8
        : exponent === 31 ? (fraction ? NaN : sign * Infinity)
        : sign * (1 + fraction / 1024) * Math.pow(2, exponent - 15);
    }
    return f16;
  }

  function bytesOf(b64) {
    const text = atob(b64);
    const out = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
    return out;
  }

  function decode(a) {
    if (a.quantised) return dequantise(a);
    const bytes = bytesOf(a.b64);
    switch (a.dtype) {
      case "f4": return new Float32Array(bytes.buffer);
      case "u4": return new Uint32Array(bytes.buffer);
      case "i4": return new Int32Array(bytes.buffer);
      case "u1": return bytes;
      case "f2": {
        const halves = new Uint16Array(bytes.buffer), table = f16Table();
        const out = new Float32Array(halves.length);
        for (let i = 0; i < halves.length; i++) out[i] = table[halves[i]];
        return out;
      }
    }
    throw new Error("unknown dtype " + a.dtype);
  }

  function dequantise(a) {   // value = lo + code * step along axis 1; code 255 = NaN
    const codes = decode(a.codes), lo = decode(a.lo), step = decode(a.step);
    const shape = a.codes.shape, length = shape[1] || 0;
    let inner = 1;
    for (let k = 2; k < shape.length; k++) inner *= shape[k];
    const out = new Float32Array(codes.length);
    for (let i = 0; i < codes.length; i++) {
      const q = Math.floor(i / (length * inner)) * inner + (i % inner);
      out[i] = codes[i] === 255 ? NaN : lo[q] + codes[i] * step[q];
    }
    return out;
  }

  // ---- formatting ----------------------------------------------------------------------------
  function fmt(x) {
    if (x === null || x === undefined || !isFinite(x)) return "n/a";
    const a = Math.abs(x);
    return a !== 0 && (a < 0.01 || a >= 1e4) ? x.toExponential(3) : x.toPrecision(4);
  }
  function pct(x) { return x === null || !isFinite(x) ? "n/a" : (100 * x).toFixed(1) + "%"; }
  function esc(text) {
    return String(text).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
                                                   "\"": "&quot;"}[c]));
  }
  function short(text, width) {
    return text.length <= width ? text : text.slice(0, width - 1) + "\u2026";
  }

  // ---- a population (a run, or one sweep cell) -------------------------------------------------
  const cache = new Map();
  function population(index) {
    if (cache.has(index)) return cache.get(index);
    const p = DATA.populations[index];
    const P = {raw: p, n: p.n_seeds};
    for (const key of ["seeds", "family", "strategy", "threshold_class", "diverged", "final_loss",
                       "final_test_loss", "behaviour", "gen", "drawn", "features", "curves",
                       "train_loss", "test_loss", "trajectory", "gate"]) {
      P[key] = decode(p[key]);
    }
    P.position = new Map();
    for (let i = 0; i < P.n; i++) P.position.set(P.seeds[i], i);
    P.drawRow = new Int32Array(P.n).fill(-1);
    P.drawn.forEach((i, row) => { P.drawRow[i] = row; });
    P.curveRow = new Int32Array(P.n).fill(-1);
    P.curves.forEach((i, row) => { P.curveRow[i] = row; });
    P.nFeatures = p.feature_names.length;
    P.nGen = p.gen_names.length;
    P.oneLevel = p.strategies.length === p.families.length &&
      p.strategies.every((s, k) => s.label === p.families[k].label);
    P.hover = Array.from(P.drawn, i => hoverText(P, i));
    cache.set(index, P);
    return P;
  }

  function hoverText(P, i) {
    const p = P.raw, f = p.families[P.family[i]], s = p.strategies[P.strategy[i]];
    const thresholdClass = p.classes[P.threshold_class[i]];
    return "<b>seed " + P.seeds[i] + "</b><br>" + esc(f.label) + ": " + esc(short(f.name, 60)) +
      (P.oneLevel ? "" : "<br>" + esc(s.label) + ": " + esc(short(s.name, 60))) +
      (thresholdClass ? "<br>class " + thresholdClass : "") + "<br>final loss " + fmt(P.final_loss[i]) +
      "<br>z flag 0 " + fmt(P.behaviour[2 * i]) + ", flag 1 " + fmt(P.behaviour[2 * i + 1]);
  }

  // ---- state ---------------------------------------------------------------------------------
  const state = {cell: 0, P: null, hidden: new Set(), highlight: null, selected: -1,
                 x: null, y: null};

  function member(P, i) {
    const h = state.highlight;
    if (!h) return true;
    return h.kind === "family" ? P.family[i] === h.index : P.strategy[i] === h.index;
  }

  // ---- the two scatter plots -----------------------------------------------------------------
  function coordinates(P, which) {   // (x(i), y(i)) accessors for a plot
    if (which === "behaviour") return [i => P.behaviour[2 * i], i => P.behaviour[2 * i + 1]];
    const column = name => {
      const k = P.raw.feature_names.indexOf(name);
      return i => P.features[P.drawRow[i] * P.nFeatures + k];
    };
    return [column(state.x), column(state.y)];
  }

  function seedTraces(P, which) {
    const [fx, fy] = coordinates(P, which);
    const traces = P.raw.families.map((f, g) => {
      const x = [], y = [], ids = [], text = [], opacity = [];
      if (!state.hidden.has(g)) {
        P.drawn.forEach((i, row) => {
          if (P.family[i] !== g) return;
          x.push(fx(i)); y.push(fy(i)); ids.push(i); text.push(P.hover[row]);
          if (state.highlight) opacity.push(member(P, i) ? 0.85 : 0.07);
        });
      }
      return {type: "scatter", mode: "markers", name: f.label, meta: "seeds", x: x, y: y,
              customdata: ids, text: text, hovertemplate: "%{text}<extra></extra>",
              showlegend: false, marker: {size: 7, color: f.colour,
                                          opacity: state.highlight ? opacity : 0.85,
                                          line: {width: 0}}};
    });
    P.raw.references.forEach((r, k) => {
      let x, y;
      if (which === "behaviour") { x = r.z[0]; y = r.z[1]; } else {
        const names = P.raw.feature_names, values = r.features || [];
        x = values[names.indexOf(state.x)]; y = values[names.indexOf(state.y)];
      }
      const drawn = x !== null && x !== undefined && y !== null && y !== undefined;
      traces.push({type: "scatter", mode: "markers", name: r.name, meta: "reference",
                   x: drawn ? [x] : [], y: drawn ? [y] : [],
                   hovertemplate: esc(r.name) + "<br>(%{x:.3f}, %{y:.3f})<extra></extra>",
                   marker: {symbol: k ? "diamond" : "star", size: 17, color: "gold",
                            line: {width: 1.2, color: "black"}}});
    });
    return traces;
  }

  function selectionShapes(which) {   // a ring around the selected seed (a shape: cheap to move)
    const P = state.P, s = state.selected;
    if (s < 0 || P.drawRow[s] < 0 || state.hidden.has(P.family[s])) return [];
    const [fx, fy] = coordinates(P, which), x = fx(s), y = fy(s);
    if (!isFinite(x) || !isFinite(y)) return [];
    return [{type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel",
             xanchor: x, yanchor: y, x0: -9, x1: 9, y0: -9, y1: 9,
             line: {width: 2.5, color: "black"}}];
  }

  function scatterLayout(which) {
    const base = {margin: {l: 60, r: 10, t: 34, b: 46}, hovermode: "closest",
                  legend: {font: {size: 10}, x: 0, y: 1, bgcolor: "rgba(255,255,255,0.6)"},
                  uirevision: which + state.cell};
    if (which === "behaviour") {
      return Object.assign(base, {
        title: {text: "Mean update gate z per seed (length-4, 2-flag probe)", x: 0.01, xanchor: "left", font: {size: 13}},
        xaxis: {title: {text: "mean z at flag-0 steps"}, range: [-0.03, 1.03]},
        yaxis: {title: {text: "mean z at flag-1 steps"}, range: [-0.03, 1.03]},
        shapes: [BLOG_BOX].concat(selectionShapes(which)),
        annotations: [{x: 0.83, y: 0.20, xanchor: "left", yanchor: "bottom", showarrow: false,
                       text: "blog seed 37 (first step)", font: {size: 9}}]});
    }
    return Object.assign(base, {
      title: {text: "Any two features", x: 0.01, xanchor: "left", font: {size: 13}},
      xaxis: {title: {text: state.x || ""}}, yaxis: {title: {text: state.y || ""}},
      shapes: selectionShapes(which)});
  }
  const BLOG_BOX = {type: "rect", x0: 0.77, x1: 0.83, y0: 0.14, y1: 0.20,
                    line: {dash: "dash", width: 1, color: "black"}};
  function moveSelection() {
    return Promise.all([
      Plotly.relayout("behaviour", {shapes: [BLOG_BOX].concat(selectionShapes("behaviour"))}),
      Plotly.relayout("features", {shapes: selectionShapes("features")})]);
  }

  function drawScatter(which) {
    return Plotly.react(which, seedTraces(state.P, which), scatterLayout(which), CONFIG);
  }
  function drawScatters() { return Promise.all([drawScatter("behaviour"), drawScatter("features")]); }

  function onPointClick(event) {
    const point = event.points && event.points[0];
    if (!point || point.data.meta !== "seeds") return;
    select(state.P.seeds[point.customdata]);
  }

  // ---- the seed panel ------------------------------------------------------------------------
  function panelSummary(P, i) {
    const p = P.raw, f = p.families[P.family[i]], s = p.strategies[P.strategy[i]];
    const thresholdClass = p.classes[P.threshold_class[i]];
    const gen = p.gen_names.map((name, k) => name + " " + fmt(Math.pow(10, P.gen[i * P.nGen + k])))
      .join(", ");
    return "<div class=\"summary\"><b>seed " + P.seeds[i] + "</b>" +
      (P.diverged[i] ? " (diverged)" : "") +
      " &middot; family <b>" + esc(f.label) + "</b>: " + esc(f.name) +
      (P.oneLevel ? "" : " &middot; strategy <b>" + esc(s.label) + "</b>: " + esc(s.name)) +
      (thresholdClass ? " &middot; class " + thresholdClass : "") + "<br>" +
      "final training loss " + fmt(P.final_loss[i]) + " (scaled units) &middot; " +
      "final test loss " + fmt(P.final_test_loss[i]) + " (original units) &middot; " +
      "mean z flag 0 " + fmt(P.behaviour[2 * i]) + ", flag 1 " + fmt(P.behaviour[2 * i + 1]) +
      (gen ? "<br>generalization, relative RMS error (L length, k flags): " + gen : "") +
      "</div>";
  }

  function slice(array, row, width) { return Array.from(array.subarray(row * width, (row + 1) * width)); }
  const pow10 = v => (isFinite(v) ? Math.pow(10, v) : null);

  function panelPlots(P, i) {
    const p = P.raw, row = P.curveRow[i];
    const small = {margin: {l: 52, r: 8, t: 28, b: 40}, legend: {font: {size: 9}},
                   font: {size: 10}};
    const nLoss = p.loss_epochs.length, nEval = p.eval_epochs.length;
    const loss = [
      {x: p.loss_epochs, y: slice(P.train_loss, row, nLoss).map(pow10), name: "train",
       mode: "lines", line: {width: 1.4}},
      {x: p.eval_epochs, y: slice(P.test_loss, row, nEval).map(pow10), name: "test / high\u00b2",
       mode: "lines+markers", marker: {size: 3}, line: {width: 1}}];
    Plotly.react("panel-loss", loss, Object.assign({}, small, {
      title: {text: "loss (scaled units)", x: 0.01, xanchor: "left", font: {size: 12}}, yaxis: {type: "log"},
      xaxis: {title: {text: "epoch"}}, legend: {x: 1, xanchor: "right", y: 1}}), PANEL_CONFIG);
    const names = p.param_names, epochs = p.trajectory_epochs;
    const width = names.length, steps = epochs.length, base = row * steps * width;
    const trajectory = names.map((name, k) => ({
      x: epochs, y: epochs.map((_, t) => P.trajectory[base + t * width + k]), name: name,
      mode: "lines", line: {width: 1.2}}));
    Plotly.react("panel-trajectory", trajectory, Object.assign({}, small, {
      title: {text: "weights over training (epoch -1 = init)", x: 0.01, xanchor: "left", font: {size: 12}},
      xaxis: {title: {text: "epoch"}}, legend: {font: {size: 8}}}), PANEL_CONFIG);
    const V = p.gate_values.length, gate = [0, 1].map(flag => ({
      x: p.gate_values, y: Array.from(P.gate.subarray((row * 2 + flag) * V, (row * 2 + flag + 1) * V)),
      name: "seed, flag " + flag, mode: "lines", line: {width: 2}}));
    p.references.forEach(r => [0, 1].forEach(flag => gate.push({
      x: p.gate_values, y: r.gate[flag], name: r.name.split(" ")[0] + ", flag " + flag,
      mode: "lines", line: {width: 1, dash: "dot"}})));
    Plotly.react("panel-gate", gate, Object.assign({}, small, {
      title: {text: "first-step update gate z (h = 0), readout unit", x: 0.01, xanchor: "left", font: {size: 12}},
      xaxis: {title: {text: "value"}}, yaxis: {range: [-0.02, 1.02]}}), PANEL_CONFIG);
  }

  function renderPanel(i) {
    const P = state.P, panel = document.getElementById("seed-panel");
    const hasCurves = P.curveRow[i] >= 0;
    panel.innerHTML = panelSummary(P, i) + (hasCurves
      ? "<div class=\"panel-plots\"><div id=\"panel-loss\"></div><div id=\"panel-trajectory\"></div>" +
        "<div id=\"panel-gate\"></div></div>"
      : "<p class=\"note\">This seed's curves are not embedded (the page carries curves for " +
        P.curves.length + " of " + P.n + " seeds, a sample stratified by family); " +
        "<code>gru-jax dissect RUN --seed " + P.seeds[i] + "</code> shows it.</p>");
    if (hasCurves) panelPlots(P, i);
  }

  function select(seed) {
    const P = state.P, message = document.getElementById("seed-message");
    const i = P.position.get(Number(seed));
    if (i === undefined) {
      message.textContent = "no seed " + seed + " here";
      return false;
    }
    message.textContent = P.drawRow[i] >= 0 ? "" : "seed " + seed + " is not among the drawn points";
    state.selected = i;
    renderPanel(i);
    moveSelection();
    return true;
  }

  // ---- controls, the census table ------------------------------------------------------------
  function buildFilter(P) {
    const box = document.getElementById("family-filter");
    box.innerHTML = "<b>families</b> ";
    P.raw.families.forEach((f, g) => {
      const label = document.createElement("label");
      label.title = f.name;
      label.innerHTML = "<input type=\"checkbox\" checked data-family=\"" + g + "\">" +
        "<span class=\"swatch\" style=\"background:" + f.colour + "\"></span>" + esc(f.label) +
        " (" + f.count + ")";
      label.querySelector("input").addEventListener("change", event => {
        if (event.target.checked) state.hidden.delete(g); else state.hidden.add(g);
        drawScatters();
      });
      box.appendChild(label);
    });
  }

  function buildMenus(P) {
    const names = P.raw.feature_names;
    const pick = (wanted, fallback) => wanted.find(n => names.includes(n)) || names[fallback] || null;
    state.x = pick(["log10_final_loss"], 0);
    state.y = pick(["log10_error_L8k2", "log10_error_L16k3"], 1);
    for (const [id, key] of [["x-axis", "x"], ["y-axis", "y"]]) {
      const menu = document.getElementById(id);
      menu.innerHTML = names.map(n => "<option" + (n === state[key] ? " selected" : "") + ">" +
                                 esc(n) + "</option>").join("");
      menu.onchange = () => { state[key] = menu.value; drawScatter("features"); };
    }
  }

  function buildCensus(P) {
    const p = P.raw, table = document.getElementById("census-table");
    document.getElementById("census-note").textContent = p.census_note;
    const row = (kind, index, item, colour) =>
      "<tr class=\"" + kind + "\" data-kind=\"" + kind + "\" data-index=\"" + index + "\" title=\"" +
      esc(item.name) + "\"><td>" + (colour ? "<span class=\"swatch\" style=\"background:" + colour +
      "\"></span>" : "") + esc(item.label) + "</td><td>" + esc(short(item.name, 90)) +
      "</td><td class=\"num\">" + item.count + "</td><td class=\"num\">" + pct(item.fraction) +
      "</td><td class=\"num\">[" + pct(item.low) + ", " + pct(item.high) + "]</td></tr>";
    let body = "<tr><th>label</th><th>name</th><th>seeds</th><th>fraction</th><th>95% CI</th></tr>";
    p.families.forEach((f, g) => {
      body += row("family", g, f, f.colour);
      if (!P.oneLevel) p.strategies.forEach((s, k) => { if (s.family === g) body += row("strategy", k, s); });
    });
    table.innerHTML = body;
    table.querySelectorAll("tr[data-kind]").forEach(tr => tr.addEventListener("click", () => {
      const kind = tr.dataset.kind, index = Number(tr.dataset.index), h = state.highlight;
      state.highlight = h && h.kind === kind && h.index === index ? null : {kind: kind, index: index};
      table.querySelectorAll("tr").forEach(other => other.classList.remove("active"));
      if (state.highlight) tr.classList.add("active");
      drawScatters();
    }));
  }

  // ---- the sweep grid --------------------------------------------------------------------------
  function buildGrid() {
    const grid = DATA.grid;
    if (!grid) return;
    document.getElementById("grid-section").hidden = false;
    const axes = grid.axes, rows = axes[0][1];
    const columnOf = values => values.slice(1).join(", ");
    const columns = [];
    grid.cells.forEach(c => { if (!columns.includes(columnOf(c.values))) columns.push(columnOf(c.values)); });
    const cellAt = {};
    grid.cells.forEach((c, i) => { cellAt[c.values[0] + "\u0000" + columnOf(c.values)] = i; });
    let html = "<table><tr><th>" + esc(axes[0][0]) + (axes.length > 1 ? " \\ " +
      esc(axes.slice(1).map(a => a[0]).join(", ")) : "") + "</th>" +
      columns.map(c => "<th>" + esc(c) + "</th>").join("") + "</tr>";
    rows.forEach(r => {
      html += "<tr><th>" + esc(r) + "</th>";
      columns.forEach(c => {
        const i = cellAt[r + "\u0000" + c];
        if (i === undefined) { html += "<td></td>"; return; }
        const cell = grid.cells[i], colours = DATA.populations[i].families.map(f => f.colour);
        const shade = "rgba(44,160,44," + (0.08 + 0.5 * (cell.general_fraction || 0)).toFixed(3) + ")";
        html += "<td class=\"cell\" data-cell=\"" + i + "\" style=\"background:" + shade + "\">" +
          "general " + fmt(cell.general_fraction) + " [" + fmt(cell.general_low) + ", " +
          fmt(cell.general_high) + "]<br>loss " + fmt(cell.median_final_loss) + " &middot; " +
          cell.diverged + " diverged &middot; " + cell.n_seeds + " seeds<div class=\"bar\">" +
          cell.families.map((f, g) => "<span title=\"" + esc(f[0]) + " " + pct(f[1]) +
            "\" style=\"width:" + (100 * f[1]).toFixed(1) + "%;background:" + colours[g] +
            "\"></span>").join("") + "</div></td>";
      });
      html += "</tr>";
    });
    const box = document.getElementById("grid");
    box.innerHTML = html + "</table>";
    box.querySelectorAll("td.cell").forEach(td => td.addEventListener("click", () =>
      selectCell(Number(td.dataset.cell))));
  }

  function selectCell(index) {
    if (!(index >= 0 && index < DATA.populations.length)) return Promise.resolve(false);
    state.cell = index;
    state.P = population(index);
    timings.decoded = timings.decoded || performance.now();
    state.hidden = new Set();
    state.highlight = null;
    state.selected = -1;
    document.querySelectorAll("#grid td.cell").forEach(td =>
      td.classList.toggle("active", Number(td.dataset.cell) === index));
    const p = state.P.raw;
    document.getElementById("population-title").textContent = DATA.kind === "sweep" ? p.title : "";
    document.getElementById("population-note").textContent =
      p.n_seeds + " seeds x " + p.epochs + " epochs, hidden size " + p.hidden_size + ". " + p.note;
    document.getElementById("seed-panel").innerHTML =
      "<p class=\"note\">Click a point, or type a seed number, to open its panel.</p>";
    buildFilter(state.P);
    buildMenus(state.P);
    buildCensus(state.P);
    return drawScatters().then(() => true);
  }

  // ---- start ---------------------------------------------------------------------------------
  document.getElementById("title").textContent = DATA.title;
  document.getElementById("note").textContent =
    "One self-contained page: plotly.js and the data are inline; nothing is fetched.";
  const go = () => select(document.getElementById("seed-input").value.trim());
  document.getElementById("seed-go").addEventListener("click", go);
  document.getElementById("seed-input").addEventListener("keydown", e => { if (e.key === "Enter") go(); });

  window.explorer = {
    get seeds() { return Array.from(state.P.drawn, i => state.P.seeds[i]); },
    get allSeeds() { return Array.from(state.P.seeds); },
    get cell() { return state.cell; },
    select: select,
    selectCell: selectCell,
    ready: false,
    readyMs: null,
    timings: timings,
  };
  buildGrid();
  selectCell(0).then(() => {
    for (const id of ["behaviour", "features"]) document.getElementById(id).on("plotly_click", onPointClick);
    window.explorer.readyMs = performance.now();
    window.explorer.ready = true;
    status.textContent = "interactive " + (window.explorer.readyMs / 1000).toFixed(2) +
      " s after the page started loading.";
  });
})();
