"use strict";
// The create form: choosing a catalog entry fills in the model id (up to a pattern's wildcard).
(() => {
  const choice = document.getElementById("model-choice");
  const modelId = document.getElementById("model-id");
  if (!choice || !modelId) return;
  choice.addEventListener("change", () => {
    const option = choice.selectedOptions[0];
    const stem = option ? option.dataset.stem || "" : "";
    if (!stem || modelId.value.startsWith(stem)) return;
    modelId.value = stem;
    modelId.focus();
  });
})();
