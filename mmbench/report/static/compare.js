/* mmbench report: two runs of one task side by side, on the samples where they differ. */
"use strict";
(function () {
  const M = window.MMB;
  const data = M.get("index");
  const state = { task: null, a: null, b: null, kind: "a_better", page: 0, token: 0 };

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    return { task: params.get("task"), a: params.get("a"), b: params.get("b") };
  }

  function writeHash() {
    const params = new URLSearchParams({ task: state.task.name, a: state.a, b: state.b });
    history.replaceState(null, "", "#" + params.toString());
  }

  function runOf(id) { return state.task.runs.find(function (r) { return r.id === id; }); }

  function fillSelect(select, options, chosen) {
    select.replaceChildren.apply(select, options.map(function (o) {
      return M.el("option", { value: o[0], selected: o[0] === chosen }, [o[1]]);
    }));
    select.value = chosen;
  }

  function chooseTask(name, a, b) {
    state.task = data.tasks.find(function (t) { return t.name === name; }) || data.tasks[0];
    const ids = state.task.runs.map(function (r) { return r.id; });
    state.a = ids.indexOf(a) !== -1 ? a : ids[0];
    state.b = ids.indexOf(b) !== -1 && b !== state.a ? b : (ids.find(function (id) { return id !== state.a; }) || ids[0]);
    fillSelect(document.getElementById("task"), data.tasks.map(function (t) { return [t.name, t.name]; }), state.task.name);
    const models = state.task.runs.map(function (r) { return [r.id, r.model]; });
    fillSelect(document.getElementById("model-a"), models, state.a);
    fillSelect(document.getElementById("model-b"), models, state.b);
  }

  /* The diff of the chosen pair, from either order of the precomputed file. */
  function pairDiff() {
    const pair = state.task.pairs.find(function (p) {
      return (p.a === state.a && p.b === state.b) || (p.a === state.b && p.b === state.a);
    });
    if (!pair) return Promise.resolve(null);
    return M.load("diff:" + pair.a + "__" + pair.b, pair.file).then(function (diff) {
      if (pair.a === state.a) return diff;
      const swap = function (list) { return list.map(function (e) { return [e[0], e[2], e[1]]; }); };
      return { a: diff.b, b: diff.a, a_better: swap(diff.b_better), b_better: swap(diff.a_better), other: swap(diff.other) };
    });
  }

  function side(sample, other) {
    if (!sample) return M.el("td", { class: "muted" }, ["absent"]);
    const others = {};
    (other ? other.fields : []).forEach(function (pair) { others[pair[0]] = pair[1]; });
    return M.el("td", {}, [
      M.el("p", { class: "outcome" }, [M.outcomeText(sample.fail)]),
      M.fieldsNode(sample.fields, other ? others : null),
      M.scoresNode(sample.scores)
    ]);
  }

  function render() {
    const token = ++state.token;
    const a = runOf(state.a), b = runOf(state.b);
    document.getElementById("head-a").textContent = "A: " + a.model;
    document.getElementById("head-b").textContent = "B: " + b.model;
    const note = document.getElementById("diff-note");
    note.hidden = true;
    writeHash();
    return pairDiff().then(function (diff) {
      if (token !== state.token) return null;
      const body = document.querySelector("#diff tbody");
      if (!diff) {
        note.textContent = "Choose two different models.";
        note.hidden = false;
        ["a_better", "b_better", "other"].forEach(function (k) { document.getElementById("count-" + k).textContent = k.replace("_", " "); });
        body.replaceChildren();
        document.body.setAttribute("data-ready", "true");
        return null;
      }
      const unit = diff.metric ? " (" + diff.metric + ")" : " (pass/fail)";
      document.getElementById("count-a_better").textContent = diff.a_better.length + " better with A" + unit;
      document.getElementById("count-b_better").textContent = diff.b_better.length + " better with B" + unit;
      document.getElementById("count-other").textContent = diff.other.length + " same score, another prediction";
      const list = diff[state.kind];
      const pages = Math.max(1, Math.ceil(list.length / M.PAGE));
      state.page = Math.min(state.page, pages - 1);
      const shown = list.slice(state.page * M.PAGE, (state.page + 1) * M.PAGE);
      document.getElementById("page-info").textContent = list.length
        ? "page " + (state.page + 1) + " of " + pages : "none";
      document.getElementById("prev").disabled = state.page === 0;
      document.getElementById("next").disabled = state.page >= pages - 1;
      return Promise.all(shown.map(function (entry) {
        return Promise.all([
          M.sampleAt(a.id, entry[1], a.chunk, ""), M.sampleAt(b.id, entry[2], b.chunk, "")
        ]);
      })).then(function (pairs) {
        if (token !== state.token) return;
        body.replaceChildren.apply(body, pairs.map(function (pair) {
          const sa = pair[0], sb = pair[1];
          return M.el("tr", { "data-sample-id": sa.id }, [
            M.el("td", { class: "id" }, [sa.id]),
            M.el("td", { class: "media" }, [M.mediaNode(sa, "")]),
            side(sa, sb), side(sb, sa)
          ]);
        }));
        document.body.setAttribute("data-ready", "true");
      });
    });
  }

  function update() {
    document.body.removeAttribute("data-ready");
    render().catch(M.showError);
  }

  function init() {
    if (!data.tasks.length) return;
    const wanted = readHash();
    chooseTask(wanted.task, wanted.a, wanted.b);
    document.getElementById("task").addEventListener("change", function (e) {
      chooseTask(e.target.value, null, null); state.page = 0; update();
    });
    document.getElementById("model-a").addEventListener("change", function (e) {
      state.a = e.target.value; state.page = 0; update();
    });
    document.getElementById("model-b").addEventListener("change", function (e) {
      state.b = e.target.value; state.page = 0; update();
    });
    document.querySelectorAll("input[name=kind]").forEach(function (input) {
      input.addEventListener("change", function (e) { state.kind = e.target.value; state.page = 0; update(); });
    });
    document.getElementById("prev").addEventListener("click", function () { state.page -= 1; update(); });
    document.getElementById("next").addEventListener("click", function () { state.page += 1; update(); });
    update();
  }

  init();
})();
