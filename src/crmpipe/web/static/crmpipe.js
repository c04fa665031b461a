// crmpipe serve: progressive enhancement of the search page. Without it the page is a plain
// form and plain links; with it, field names complete as you type and the facet counts follow
// the query. Only text is ever inserted (textContent), never HTML.
"use strict";
(function () {
  const input = document.getElementById("q");
  if (!input) return;
  const form = input.form;
  const list = document.getElementById("completions");
  const names = Array.from(document.querySelectorAll("#field-names option"), (o) => o.value);
  input.removeAttribute("list"); // our own list completes the word being typed, not the whole box

  function lastWord() {
    const upto = input.value.slice(0, input.selectionStart ?? input.value.length);
    const m = /(^|[\s(])(-?)([A-Za-z_][\w.]*)$/.exec(upto);
    return m ? { word: m[3], start: upto.length - m[3].length } : null;
  }

  function complete() {
    const at = lastWord();
    list.replaceChildren();
    const hits = at ? names.filter((n) => n.toLowerCase().startsWith(at.word.toLowerCase()) && n !== at.word + ":") : [];
    list.hidden = hits.length === 0;
    for (const name of hits.slice(0, 12)) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = name;
      b.addEventListener("click", () => {
        const end = input.selectionStart ?? input.value.length;
        input.value = input.value.slice(0, at.start) + name + input.value.slice(end);
        const caret = at.start + name.length;
        input.focus();
        input.setSelectionRange(caret, caret);
        list.hidden = true;
        refreshFacets();
      });
      li.appendChild(b);
      list.appendChild(li);
    }
  }

  const facets = document.getElementById("facets");
  let timer = null;
  let latest = 0;

  function facetTerm(field, value) {
    return field + ':"' + String(value).replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"';
  }

  function addTerm(q, term) {
    q = q.trim();
    if (!q) return term;
    return / or /i.test(" " + q + " ") ? "(" + q + ") " + term : q + " " + term;
  }

  function refreshFacets() {
    if (!facets || !facets.dataset.fields) return;
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value;
      const table = facets.dataset.table;
      const params = new URLSearchParams({ q: q, fields: facets.dataset.fields, top: "10" });
      if (table) params.set("table", table);
      const mine = ++latest;
      let body;
      try {
        const resp = await fetch("/api/facets?" + params, { credentials: "same-origin" });
        if (!resp.ok) { facets.classList.add("stale"); return; }
        body = await resp.json();
      } catch (e) { facets.classList.add("stale"); return; }
      if (mine !== latest) return;
      facets.classList.remove("stale");
      for (const section of facets.querySelectorAll("section.facet")) {
        const field = section.dataset.field;
        const ul = section.querySelector("ul");
        ul.replaceChildren();
        for (const entry of body.fields[field] || []) {
          const li = document.createElement("li");
          const a = document.createElement("a");
          const href = new URLSearchParams({ q: addTerm(q, facetTerm(field, entry.value)) });
          if (table) href.set("table", table);
          a.href = "/?" + href;
          a.textContent = entry.value;
          const n = document.createElement("span");
          n.className = "count";
          n.textContent = entry.count.toLocaleString("en-US");
          li.append(a, " ", n);
          ul.appendChild(li);
        }
        if (!ul.children.length) {
          const li = document.createElement("li");
          li.className = "none";
          li.textContent = "none";
          ul.appendChild(li);
        }
      }
    }, 300);
  }

  input.addEventListener("input", () => { complete(); refreshFacets(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") list.hidden = true;
    if (e.key === "ArrowDown" && !list.hidden) { e.preventDefault(); list.querySelector("button")?.focus(); }
  });
  document.addEventListener("click", (e) => { if (!form.contains(e.target)) list.hidden = true; });
})();
