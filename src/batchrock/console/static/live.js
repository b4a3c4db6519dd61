"use strict";
// Shared by the console's pages: poll a JSON feed of the console, and show a job's figures.
window.Live = (() => {
  const numberFormat = new Intl.NumberFormat("en-US");

  function number(value) {
    return numberFormat.format(value || 0);
  }

  function setStatus(element, status) {
    if (!element) return;
    element.textContent = status;
    element.className = "status s-" + status;
  }

  function setProgress(root, percent) {
    root.querySelectorAll('[data-live="progress"]').forEach((bar) => { bar.value = percent; });
    root.querySelectorAll('[data-live="percent"]').forEach((label) => { label.textContent = percent + "%"; });
  }

  // Calls onData with each answer every `everyMs` until it returns false. A signed-out visitor
  // is sent to sign in (by reloading); a network error is retried, each time a little later.
  function poll(url, everyMs, onData) {
    let delay = everyMs;
    async function tick() {
      try {
        const response = await fetch(url, { credentials: "same-origin", headers: { accept: "application/json" } });
        if (response.status === 401) { window.location.reload(); return; }
        if (!response.ok) throw new Error("feed answered " + response.status);
        delay = everyMs;
        if (onData(await response.json()) === false) return;
      } catch (error) {
        delay = Math.min(delay * 2, 15000);
      }
      window.setTimeout(tick, delay);
    }
    tick();
  }

  return { number, setStatus, setProgress, poll };
})();
