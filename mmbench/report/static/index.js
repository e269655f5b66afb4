/* mmbench report: the leaderboard page (a table per task, the summary, SVG plots). */
"use strict";
(function () {
  const M = window.MMB;
  const SVG = "http://www.w3.org/2000/svg";
  const COST = [
    ["items_per_s", "items/s", false], ["wall_s", "wall time", true],
    ["peak_gpu_memory_mb", "peak GPU memory", true], ["tokens_per_s", "tokens/s", false],
    ["requests", "requests", true], ["tokens", "tokens", true]
  ];

  /* Make the headers carrying `data-sort` sort their table: first click best first (by the
     header's direction), again to reverse; rows without a value stay last. */
  function sortable(table, rows) {
    let current = null;
    let descending = true;
    table.querySelectorAll("th[data-sort]").forEach(function (th) {
      th.addEventListener("click", function () {
        const key = th.getAttribute("data-sort");
        const best = th.getAttribute("data-lower") === null;
        descending = current === key ? !descending : best;
        current = key;
        table.querySelectorAll("th[data-sort]").forEach(function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        const ordered = rows.slice().sort(function (x, y) {
          const a = x.values[key], b = y.values[key];
          if (a === null || a === undefined) return (b === null || b === undefined) ? 0 : 1;
          if (b === null || b === undefined) return -1;
          return descending ? b - a : a - b;
        });
        const body = table.tBodies[0];
        ordered.forEach(function (row) { body.appendChild(row.tr); });
      });
    });
  }

  function header(label, attrs) {
    return M.el("th", Object.assign({ scope: "col", tabindex: 0 }, attrs), [label]);
  }

  function taskTable(task) {
    const lower = new Set(task.lower_is_better);
    const usedCost = COST.filter(function (c) {
      return task.runs.some(function (r) { return r.cost && r.cost[c[0]] !== null && r.cost[c[0]] !== undefined; });
    });
    const head = M.el("tr", {}, [M.el("th", { scope: "col" }, ["model"])]);
    task.metrics.forEach(function (metric) {
      head.appendChild(header(metric, {
        "data-metric": metric, "data-sort": "m:" + metric, "data-lower": lower.has(metric),
        class: metric === task.headline ? "headline" : null
      }));
    });
    usedCost.forEach(function (c) {
      head.appendChild(header(c[1], { "data-cost": c[0], "data-sort": "c:" + c[0], "data-lower": c[2] }));
    });
    head.appendChild(M.el("th", { scope: "col" }, ["hardware"]));
    head.appendChild(header("n", { "data-sort": "n" }));
    head.appendChild(M.el("th", { scope: "col" }, ["samples"]));
    const body = M.el("tbody");
    const rows = task.runs.map(function (run) {
      const values = { n: run.n };
      const label = run.limit ? [run.model, M.el("span", { class: "muted" }, [" (limit " + run.limit + ")"])] : [run.model];
      const tr = M.el("tr", { "data-model": run.model }, [M.el("td", { class: "model" }, label)]);
      task.metrics.forEach(function (metric) {
        values["m:" + metric] = run.metrics[metric];
        tr.appendChild(M.el("td", { class: "num", "data-metric": metric },
          [M.metricText(run.metrics[metric], run.ci[metric])]));
      });
      usedCost.forEach(function (c) {
        values["c:" + c[0]] = run.cost[c[0]];
        tr.appendChild(M.el("td", { class: "num" }, [M.costText(run.cost, c[0])]));
      });
      tr.appendChild(M.el("td", { class: "muted" }, [run.cost.hardware || "—"]));
      tr.appendChild(M.el("td", { class: "num" }, [M.fmt(run.n)]));
      const text = run.samples + " samples" +
        (run.failures ? ", " + run.failures + (run.failures === 1 ? " failure" : " failures") : "");
      tr.appendChild(M.el("td", {}, [M.el("a", { "data-samples": true, href: "runs/" + run.id + "/index.html" }, [text])]));
      body.appendChild(tr);
      return { tr: tr, values: values };
    });
    const table = M.el("table", { class: "board", "data-task": task.name }, [M.el("thead", {}, [head]), body]);
    sortable(table, rows);
    table.querySelector("th.headline").click();
    return table;
  }

  function summaryTable(summary) {
    const head = M.el("tr", {}, [M.el("th", { scope: "col" }, ["model"])]);
    summary.columns.forEach(function (column) {
      head.appendChild(header(column.task + " / " + column.metric, {
        "data-sort": column.task, "data-lower": null
      }));
    });
    const body = M.el("tbody");
    const rows = summary.rows.map(function (row) {
      const tr = M.el("tr", { "data-model": row.model }, [M.el("td", { class: "model" }, [row.model])]);
      const values = {};
      summary.columns.forEach(function (column) {
        const cell = row.values[column.task];
        values[column.task] = cell ? cell.value : null;
        const text = cell ? M.metricText(cell.value, cell.ci) : "—";
        tr.appendChild(M.el("td", { class: "num" }, [cell ? M.el("a", { href: "runs/" + cell.run + "/index.html" }, [text]) : text]));
      });
      body.appendChild(tr);
      return { tr: tr, values: values };
    });
    const table = M.el("table", { class: "board", id: "summary" }, [M.el("thead", {}, [head]), body]);
    sortable(table, rows);
    return table;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /* Horizontal bars of the headline metric, whiskers at the 95% bootstrap interval, the value
     written at the bar's end. */
  function plot(task) {
    const runs = task.runs.filter(function (r) { return typeof r.metrics[task.headline] === "number"; });
    const labelWidth = 220, barArea = 380, rowHeight = 24, top = 30;
    const height = top + rowHeight * runs.length + 10;
    const width = labelWidth + barArea + 80;
    let max = 0;
    runs.forEach(function (r) {
      const ci = r.ci[task.headline];
      max = Math.max(max, r.metrics[task.headline], ci ? ci[1] : 0);
    });
    max = max > 0 ? max : 1;
    const scale = function (v) { return labelWidth + Math.max(0, v) / max * barArea; };
    const ns = task.runs.map(function (r) { return r.n; }).filter(function (n) { return n !== null; });
    const title = task.headline + " (n = " + Array.from(new Set(ns)).join(", ") +
      "; whiskers: 95% bootstrap interval)";
    const root = svg("svg", {
      class: "plot", width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img"
    });
    root.appendChild(svg("title", {}, title));
    root.appendChild(svg("text", { x: 4, y: 18, class: "plot-title" }, title));
    runs.forEach(function (r, i) {
      const y = top + i * rowHeight;
      const value = r.metrics[task.headline];
      const label = r.model.length > 32 ? r.model.slice(0, 31) + "…" : r.model;
      root.appendChild(svg("text", { x: labelWidth - 6, y: y + 15, "text-anchor": "end" }, label));
      root.appendChild(svg("rect", { x: labelWidth, y: y + 3, width: scale(value) - labelWidth, height: rowHeight - 8, class: "bar" }));
      const ci = r.ci[task.headline];
      if (ci) {
        root.appendChild(svg("line", { x1: scale(ci[0]), x2: scale(ci[1]), y1: y + 11, y2: y + 11, class: "whisker" }));
      }
      root.appendChild(svg("text", { x: scale(value) + 4, y: y + 8, class: "bar-value" }, M.fmt(value)));
    });
    return root;
  }

  function render(data) {
    document.getElementById("generated").textContent =
      "generated " + data.generated + " by mmbench " + data.mmbench_version;
    document.getElementById("summary-holder").appendChild(summaryTable(data.summary));
    const holder = document.getElementById("tasks");
    data.tasks.forEach(function (task) {
      const section = M.el("section", { class: "task", id: "task-" + task.name }, [
        M.el("h2", {}, [task.name]),
        M.el("p", { class: "muted" }, [
          (task.type ? task.type + " · " : "") + "headline " + task.headline + " · ",
          M.el("a", { href: "compare.html#task=" + encodeURIComponent(task.name) }, ["compare two models"])
        ])
      ]);
      if (task.media_note) section.appendChild(M.el("p", { class: "note" }, [task.media_note]));
      section.appendChild(plot(task));
      section.appendChild(M.el("div", { class: "scroll" }, [taskTable(task)]));
      holder.appendChild(section);
    });
  }

  try {
    render(M.get("index"));
  } catch (error) {
    M.showError(error);
    throw error;
  }
})();
