/* mmbench report: shared helpers. Data files call mmbenchData(key, value); pages load them with
   script tags (file:// forbids fetch). Every string from a result, a dataset or a model is put in
   the page with textContent or setAttribute, never parsed as HTML. */
"use strict";
(function () {
  const store = Object.create(null);
  const waiting = Object.create(null);

  window.mmbenchData = function (key, value) {
    store[key] = value;
    const callbacks = waiting[key] || [];
    delete waiting[key];
    callbacks.forEach(function (cb) { cb.resolve(value); });
  };

  /* Load data file `src` that registers `key`; resolves with its value. */
  function load(key, src) {
    if (key in store) return Promise.resolve(store[key]);
    return new Promise(function (resolve, reject) {
      const first = !(key in waiting);
      (waiting[key] = waiting[key] || []).push({ resolve: resolve, reject: reject });
      if (!first) return;
      const script = document.createElement("script");
      script.src = src;
      script.addEventListener("error", function () {
        const callbacks = waiting[key] || [];
        delete waiting[key];
        callbacks.forEach(function (cb) { cb.reject(new Error("could not load " + src)); });
      });
      document.head.appendChild(script);
    });
  }

  function find(prefix) {
    const key = Object.keys(store).find(function (k) { return k.indexOf(prefix) === 0; });
    return key === undefined ? undefined : store[key];
  }

  /* Element with attributes (set as attributes, so never markup) and text or element children. */
  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      const value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(name, value === true ? "" : String(value));
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(typeof child === "object" ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined || typeof value !== "number") return "—";
    if (Number.isInteger(value)) return String(value);
    const size = Math.abs(value);
    if (size >= 100) return value.toFixed(1);
    if (size !== 0 && size < 0.001) return value.toExponential(2);
    return value.toFixed(3);
  }

  /* "0.533 [0.429, 0.619]": a value with its interval in one cell. */
  function metricText(value, ci) {
    const text = fmt(value);
    if (!ci || ci.length !== 2) return text;
    return text + " [" + fmt(ci[0]) + ", " + fmt(ci[1]) + "]";
  }

  function costText(cost, key) {
    const value = cost ? cost[key] : null;
    if (value === null || value === undefined) return "—";
    if (key === "wall_s") return value.toFixed(1) + " s";
    if (key === "peak_gpu_memory_mb") return (value / 1024).toFixed(2) + " GiB";
    if (key === "items_per_s" || key === "tokens_per_s") return value.toFixed(1);
    return typeof value === "number" ? String(Math.round(value)) : String(value);
  }

  /* A value of a sample field as DOM: text, a list of texts, or JSON text for anything else. */
  function valueNode(value) {
    if (Array.isArray(value) && value.every(function (v) { return typeof v === "number"; })) {
      return el("span", { class: "text" }, [value.join(", ")]);
    }
    if (Array.isArray(value)) {
      return el("ul", { class: "values" }, value.map(function (item) {
        return el("li", {}, [typeof item === "string" ? item : JSON.stringify(item)]);
      }));
    }
    if (typeof value === "string") return el("span", { class: "text" }, [value]);
    return el("span", { class: "text" }, [JSON.stringify(value)]);
  }

  function fieldsNode(fields, others) {
    const list = el("dl", { class: "fields" });
    fields.forEach(function (pair) {
      const other = others ? others[pair[0]] : undefined;
      const differs = others && JSON.stringify(other) !== JSON.stringify(pair[1]);
      list.appendChild(el("dt", { class: differs ? "differs" : null }, [pair[0]]));
      list.appendChild(el("dd", { class: differs ? "differs" : null }, [valueNode(pair[1])]));
    });
    return list;
  }

  function scoresNode(scores) {
    const list = el("dl", { class: "scores" });
    Object.keys(scores || {}).forEach(function (name) {
      list.appendChild(el("dt", {}, [name]));
      list.appendChild(el("dd", {}, [fmt(scores[name])]));
    });
    return list;
  }

  function mediaNode(sample, root) {
    if (sample.media) {
      return el("img", {
        class: "thumb", src: root + sample.media, alt: "media of sample " + sample.id
      });
    }
    return el("span", { class: "muted" }, [sample.media_error || "no image"]);
  }

  function outcomeText(fail) {
    if (fail === true) return "fail";
    if (fail === false) return "pass";
    return "—";
  }

  function pad(number) { return String(number).padStart(5, "0"); }

  /* The sample at `position` of run `runId` (its chunk loaded on demand); `root` leads from the
     page to the report folder. */
  function sampleAt(runId, position, chunkSize, root) {
    const number = Math.floor(position / chunkSize);
    const key = "chunk:" + runId + ":" + number;
    return load(key, root + "runs/" + runId + "/chunk-" + pad(number) + ".js").then(function (rows) {
      return rows[position - number * chunkSize];
    });
  }

  function showError(error) {
    const note = el("p", { class: "note error" }, [String(error && error.message || error)]);
    document.body.insertBefore(note, document.body.firstChild);
  }

  window.MMB = {
    load: load, find: find, get: function (key) { return store[key]; }, el: el, fmt: fmt,
    metricText: metricText, costText: costText, fieldsNode: fieldsNode, scoresNode: scoresNode,
    mediaNode: mediaNode, outcomeText: outcomeText, sampleAt: sampleAt, showError: showError,
    PAGE: 50
  };
})();
