"use strict";
// The jobs list: sort by a column (the rows shown), and live status and progress while jobs run.
(() => {
  const table = document.getElementById("jobs");
  if (!table) return;
  const body = table.tBodies[0];

  function sortBy(header) {
    const column = header.cellIndex;
    const numeric = header.dataset.sort === "number";
    const ascending = !header.classList.contains("asc");
    table.querySelectorAll("th").forEach((th) => th.classList.remove("asc", "desc"));
    header.classList.add(ascending ? "asc" : "desc");
    const key = (row) => row.cells[column].dataset.value || "";
    const rows = Array.from(body.rows).sort((a, b) => {
      const order = numeric ? Number(key(a)) - Number(key(b)) : key(a).localeCompare(key(b));
      return ascending ? order : -order;
    });
    rows.forEach((row) => body.appendChild(row));
  }

  table.querySelectorAll("th[data-sort]").forEach((header) => {
    header.tabIndex = 0;
    header.addEventListener("click", () => sortBy(header));
    header.addEventListener("keydown", (event) => { if (event.key === "Enter") sortBy(header); });
  });

  function update(row, job) {
    const counts = job.counts;
    Live.setStatus(row.querySelector('[data-live="status"]'), job.status);
    row.cells[1].dataset.value = job.status;
    Live.setProgress(row, job.percent);
    row.cells[2].dataset.value = job.percent;
    const records = row.querySelector('[data-live="records"]');
    records.textContent = Live.number(counts.processedRecordCount) + " / " + Live.number(counts.totalRecordCount);
    records.dataset.value = counts.processedRecordCount || 0;
    const errors = row.querySelector('[data-live="errors"]');
    errors.textContent = Live.number(counts.errorRecordCount);
    errors.dataset.value = counts.errorRecordCount || 0;
    const ended = row.querySelector('[data-live="ended"]');
    ended.textContent = job.fields.endTime;
    ended.dataset.value = job.fields.endTime;
    row.dataset.terminal = String(job.terminal);
  }

  const running = () => body.querySelector('tr[data-terminal="false"]') !== null;
  if (!running()) return;
  Live.poll(table.dataset.feed, 2000, (data) => {
    data.jobs.forEach((job) => {
      const row = body.querySelector('tr[data-job="' + job.jobId + '"]');
      if (row) update(row, job);
    });
    return running();
  });
})();
