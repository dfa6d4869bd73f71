// Live updates for Lockstep's web UI. The pages work without this file; with it, an
// element marked `data-live` opens the Server-Sent Events stream it names, and each
// `replace` event swaps the element with the id it carries for the server's new HTML
// (an empty fragment removes it). A row the page does not have yet is placed where it
// sorts (`data-key`), if that is on this page of the table. The session's end reloads
// the page (to sign in).
"use strict";

// Puts `row` into `table`'s body before the first row that sorts after it; not at all if
// it sorts before this page's first row or after its last and other pages hold those.
function place(table, row) {
  const body = table.tBodies[0];
  if (!body || !row.dataset.key) {
    return;
  }
  const rows = Array.from(body.rows);
  const next = rows.find((r) => r.dataset.key > row.dataset.key);
  if (next === undefined) {
    if (table.dataset.last === "true") {
      body.appendChild(row);
    }
  } else if (next !== rows[0] || table.dataset.first === "true") {
    body.insertBefore(row, next);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const holder of document.querySelectorAll("[data-live]")) {
    const source = new EventSource(holder.dataset.live);
    source.addEventListener("replace", (event) => {
      const { id, html } = JSON.parse(event.data);
      const current = document.getElementById(id);
      if (current) {
        current.outerHTML = html;
      } else if (html && holder.tagName === "TABLE") {
        const template = document.createElement("template");
        template.innerHTML = html;
        const row = template.content.firstElementChild;
        if (row) {
          place(holder, row);
        }
      }
    });
    source.addEventListener("signed-out", () => {
      source.close();
      window.location.reload();
    });
  }
});
