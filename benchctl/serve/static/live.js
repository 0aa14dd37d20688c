// The live page follows a headless run through the API's Server-Sent Events. Rows are built
// with textContent only: nothing from the database is ever parsed as HTML.
"use strict";

(function () {
  const root = document.getElementById("live");
  if (!root || !window.EventSource) return;
  const state = document.getElementById("live-state");
  const bar = document.getElementById("live-bar");

  function when(value) {
    return value ? value.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC") : "–";
  }

  function row(cells, sessionId) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    const link = document.createElement("a");
    link.href = "/sessions/" + encodeURIComponent(sessionId);
    const code = document.createElement("code");
    code.textContent = sessionId.slice(0, 8);
    link.appendChild(code);
    th.appendChild(link);
    tr.appendChild(th);
    for (const [text, numeric] of cells) {
      const td = document.createElement("td");
      td.textContent = String(text);
      if (numeric) td.className = "num";
      tr.appendChild(td);
    }
    return tr;
  }

  function fill(body, rows, empty) {
    body.replaceChildren(...rows);
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 8;
      td.textContent = empty;
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  function show(p) {
    for (const dd of root.querySelectorAll("[data-field]")) {
      dd.textContent = String(p[dd.dataset.field]);
    }
    bar.max = p.sessions || 1;
    bar.value = p.finalized + p.aborted;
    bar.textContent = bar.value + " of " + p.sessions;
    fill(document.getElementById("running"), p.running.map((a) => row([
      [a.variant], [a.task_card], [a.replicate, true], [a.attempt, true],
      [a.step + (a.lease_expired ? " (lease expired)" : "")], [a.runner], [when(a.started_at)],
    ], a.session_id)), "No attempt is running.");
    fill(document.getElementById("finished"), p.finished.map((a) => row([
      [a.variant], [a.task_card], [a.replicate, true], [a.attempt, true],
      [a.status.replace("_", " ") + (a.timed_out ? " (timed out)" : "")], [a.outcome || "–"],
      [when(a.ended_at)],
    ], a.session_id)), "No attempt has ended yet.");
  }

  const source = new EventSource(root.dataset.stream);
  source.addEventListener("progress", (event) => {
    show(JSON.parse(event.data));
    state.textContent = "Running: this page follows the database.";
  });
  source.addEventListener("done", () => {
    state.textContent = "Nothing left to run.";
    source.close();
  });
  source.onerror = () => {
    state.textContent = "Lost the connection to the server; retrying.";
  };
})();
