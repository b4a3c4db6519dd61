"use strict";
// A job's page: live figures from the console's feed, records/s and tokens/s drawn from the
// samples this page takes (one a second), an ETA, and the job's results once it has ended.
(() => {
  const page = document.getElementById("job");
  if (!page) return;
  const WINDOW_SECONDS = 5;   // rates are taken over this much time: counts arrive in steps
  const KEPT_SAMPLES = 180;
  const samples = [];
  const $ = (id) => document.getElementById(id);

  function tokens(counts) {
    return (counts.inputTokenCount || 0) + (counts.outputTokenCount || 0);
  }

  function rateAt(index, value) {
    const last = samples[index];
    let first = index;
    while (first > 0 && last.t - samples[first - 1].t <= WINDOW_SECONDS) first -= 1;
    const span = last.t - samples[first].t;
    return span > 0 ? (value(last) - value(samples[first])) / span : 0;
  }

  function series(value) {
    return samples.map((sample, index) => ({ t: sample.t, rate: index ? rateAt(index, value) : 0 }));
  }

  function draw(svg, points) {
    const ns = "http://www.w3.org/2000/svg";
    svg.replaceChildren();
    if (points.length < 2) return;
    const width = 300, height = 90, top = 6;
    const start = points[0].t, span = Math.max(points[points.length - 1].t - start, 1);
    const peak = Math.max(...points.map((p) => p.rate), 1e-9);
    const xy = points.map((p) => [(p.t - start) / span * width, height - (p.rate / peak) * (height - top)]);
    const line = xy.map(([x, y]) => x.toFixed(1) + "," + y.toFixed(1)).join(" ");
    const area = document.createElementNS(ns, "polygon");
    area.setAttribute("points", "0," + height + " " + line + " " + width + "," + height);
    area.setAttribute("class", "area");
    const path = document.createElementNS(ns, "polyline");
    path.setAttribute("points", line);
    path.setAttribute("class", "line");
    svg.append(area, path);
    document.getElementById(svg.id + "-note").textContent = "peak " + rateText(peak) + " · last " + duration(span);
  }

  function rateText(rate) {
    return rate >= 100 ? Live.number(Math.round(rate)) : rate.toFixed(1);
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), rest = s % 60;
    return h ? h + "h " + String(m).padStart(2, "0") + "m" : m ? m + "m " + String(rest).padStart(2, "0") + "s" : rest + "s";
  }

  function showRates(job) {
    const counts = job.counts;
    if (job.terminal) {
      const seconds = (Date.parse(job.endTime) - Date.parse(job.submitTime)) / 1000;
      $("rate-label").textContent = "Records/s (average)";
      $("records-rate").textContent = seconds > 0 ? rateText((counts.processedRecordCount || 0) / seconds) : "—";
      $("tokens-rate").textContent = seconds > 0 ? rateText(tokens(counts) / seconds) : "—";
      $("eta").textContent = "ended";
      return;
    }
    const last = samples.length - 1;
    const records = last > 0 ? rateAt(last, (s) => s.processed) : 0;
    $("records-rate").textContent = rateText(records);
    $("tokens-rate").textContent = last > 0 ? rateText(rateAt(last, (s) => s.tokens)) : "—";
    const remaining = (counts.totalRecordCount || 0) - (counts.processedRecordCount || 0);
    $("eta").textContent = records > 0 && remaining > 0 ? duration(remaining / records)
      : counts.totalRecordCount && remaining === 0 ? "finishing" : "—";
  }

  function show(job) {
    Live.setStatus(page.querySelector('[data-live="status"]'), job.status);
    Live.setProgress(page, job.percent);
    const message = $("message");
    message.textContent = job.message || "";
    message.hidden = !job.message;
    $("stop-form").hidden = !job.stoppable;
    page.querySelectorAll("[data-count]").forEach((tile) => {
      tile.textContent = Live.number(job.counts[tile.dataset.count]);
    });
    page.querySelectorAll("[data-field]").forEach((cell) => {
      if (cell.dataset.field in job.fields) cell.textContent = job.fields[cell.dataset.field];
    });
    showRates(job);
    page.dataset.terminal = String(job.terminal);
  }

  function sample(job) {
    samples.push({ t: performance.now() / 1000, processed: job.counts.processedRecordCount || 0, tokens: tokens(job.counts) });
    if (samples.length > KEPT_SAMPLES) samples.shift();
    draw($("records-chart"), series((s) => s.processed));
    draw($("tokens-chart"), series((s) => s.tokens));
  }

  async function loadResults() {
    const section = $("results");
    const response = await fetch(section.dataset.src, { credentials: "same-origin" });
    if (response.ok) section.innerHTML = await response.text();
  }

  loadResults();
  if (page.dataset.terminal === "true") {
    fetch(page.dataset.feed, { credentials: "same-origin" }).then((r) => r.json()).then(show);
    return;
  }
  Live.poll(page.dataset.feed, 1000, (job) => {
    sample(job);
    show(job);
    if (job.terminal) {
      $("chart-hint").textContent = "Sampled every second while this page was open; the tiles show averages over the run.";
      loadResults();
    }
    return !job.terminal;
  });
})();
