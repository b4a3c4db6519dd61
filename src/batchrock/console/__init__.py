"""The web console at /console: server-rendered pages over the same JobService calls the API makes
(``routes`` mounts it; ``docs/console.md`` describes it)."""
