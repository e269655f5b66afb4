/* mmbench report: one run's sample view (paged; chunks and the id index load on demand). */
"use strict";
(function () {
  const M = window.MMB;
  const ROOT = "../../";
  const meta = M.find("meta:");
  const state = { page: 0, view: null, failuresOnly: false, query: "", token: 0 };

  function header() {
    document.title = meta.task + " · " + meta.model + " · mmbench samples";
    document.getElementById("title").textContent = meta.task + " — " + meta.model;
    document.getElementById("subtitle").textContent = meta.samples + " samples, " + meta.failures +
      " failures (no credit on " + meta.headline + ", or an error)" +
      (meta.limit ? " · limited to the first " + meta.limit + " rows" : "");
    const parts = Object.keys(meta.metrics).map(function (name) {
      return name + " " + M.metricText(meta.metrics[name], meta.ci[name]);
    });
    document.getElementById("metrics").textContent = parts.join(" · ");
    const cost = ["items_per_s", "wall_s", "peak_gpu_memory_mb", "tokens_per_s"].filter(function (k) {
      return meta.cost[k] !== null && meta.cost[k] !== undefined;
    }).map(function (k) { return k.replace(/_/g, " ") + " " + M.costText(meta.cost, k); });
    if (meta.cost.hardware) cost.push("on " + meta.cost.hardware);
    document.getElementById("cost").textContent = cost.join(" · ");
    document.getElementById("compare-link").setAttribute(
      "href", ROOT + "compare.html#task=" + encodeURIComponent(meta.task) + "&a=" + encodeURIComponent(meta.id));
    if (meta.media_note) {
      const note = document.getElementById("media-note");
      note.textContent = meta.media_note;
      note.hidden = false;
    }
  }

  /* Positions to show: all samples, or those matching the filter and the id search. */
  function computeView() {
    if (!state.failuresOnly && !state.query) return Promise.resolve(null);
    const key = "ids:" + meta.id;
    return M.load(key, "ids.js").then(function (ids) {
      const query = state.query.toLowerCase();
      const exact = [], partial = [];
      ids.forEach(function (pair, position) {
        if (state.failuresOnly && pair[1] !== true) return;
        if (!query) { partial.push(position); return; }
        const id = pair[0].toLowerCase();
        if (id === query) exact.push(position);
        else if (id.indexOf(query) !== -1) partial.push(position);
      });
      return exact.concat(partial);
    });
  }

  function row(sample) {
    return M.el("tr", { "data-sample-id": sample.id, class: sample.fail ? "fail" : null }, [
      M.el("td", { class: "id" }, [sample.id]),
      M.el("td", { class: "media" }, [M.mediaNode(sample, ROOT)]),
      M.el("td", {}, [M.fieldsNode(sample.fields)]),
      M.el("td", {}, [M.scoresNode(sample.scores)]),
      M.el("td", { class: "outcome" }, [M.outcomeText(sample.fail)])
    ]);
  }

  function render() {
    const token = ++state.token;
    const total = state.view === null ? meta.samples : state.view.length;
    const pages = Math.max(1, Math.ceil(total / M.PAGE));
    state.page = Math.min(state.page, pages - 1);
    const start = state.page * M.PAGE;
    const positions = [];
    for (let i = start; i < Math.min(total, start + M.PAGE); i++) {
      positions.push(state.view === null ? i : state.view[i]);
    }
    document.getElementById("page-info").textContent = total
      ? "samples " + (start + 1) + "–" + (start + positions.length) + " of " + total + " (page " + (state.page + 1) + " of " + pages + ")"
      : "no matching samples";
    document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("next").disabled = state.page >= pages - 1;
    return Promise.all(positions.map(function (p) {
      return M.sampleAt(meta.id, p, meta.chunk, ROOT);
    })).then(function (samples) {
      if (token !== state.token) return;
      const body = document.querySelector("#samples tbody");
      body.replaceChildren.apply(body, samples.filter(Boolean).map(row));
      document.body.setAttribute("data-ready", "true");
    });
  }

  function refresh() {
    state.page = 0;
    document.body.removeAttribute("data-ready");
    return computeView().then(function (view) { state.view = view; return render(); });
  }

  function init() {
    header();
    document.getElementById("failures-only").addEventListener("change", function (event) {
      state.failuresOnly = event.target.checked;
      refresh().catch(M.showError);
    });
    let timer = null;
    document.getElementById("search").addEventListener("input", function (event) {
      clearTimeout(timer);
      timer = setTimeout(function () {
        state.query = event.target.value.trim();
        refresh().catch(M.showError);
      }, 150);
    });
    document.getElementById("prev").addEventListener("click", function () {
      state.page -= 1; render().catch(M.showError);
    });
    document.getElementById("next").addEventListener("click", function () {
      state.page += 1; render().catch(M.showError);
    });
    render().catch(M.showError);
  }

  init();
})();
