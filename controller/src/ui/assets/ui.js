// Live updates for Lockstep's web UI. The pages work without this file; with it, an
// element marked `data-live` opens the Server-Sent Events stream it names, and each
// `replace` event swaps the element with the id it carries for the server's new HTML
// (an empty fragment removes it). The session's end reloads the page (to sign in).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  for (const holder of document.querySelectorAll("[data-live]")) {
    const source = new EventSource(holder.dataset.live);
    source.addEventListener("replace", (event) => {
      const { id, html } = JSON.parse(event.data);
      const current = document.getElementById(id);
      if (current) {
        current.outerHTML = html;
      }
    });
    source.addEventListener("signed-out", () => {
      source.close();
      window.location.reload();
    });
  }
});
