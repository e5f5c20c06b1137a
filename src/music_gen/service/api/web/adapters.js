// The generate form's LoRA adapter: a select filled from GET /adapters (yours and the shared
// ones trained for the chosen model, as GET /models lists them) and its strength. The fieldset
// shows only for models with the "adapter" capability (data-cap, as every other control).

import { api } from "./api.js";
import { $ } from "./ui.js";

let adapters = []; // GET /adapters, as last loaded

// The adapters that fit the chosen model, in the select ("" : none).
function fill() {
  const select = $("#adapter");
  const model = $("#model").value;
  const previous = select.value;
  const fitting = adapters.filter((a) => a.ready && (a.models || []).includes(model));
  select.replaceChildren(
    new Option("None", ""),
    ...fitting.map((a) => new Option(a.shared ? `${a.name} (shared)` : a.name, a.name)),
  );
  if (fitting.some((a) => a.name === previous)) select.value = previous;
  $("#adapter-info").textContent = fitting.length
    ? ""
    : "No adapter trained for this model yet.";
  $("#adapter_scale").disabled = select.value === "";
}

// Loaded again whenever the models are (sign-in) and the model changes.
async function load() {
  try {
    ({ adapters } = await api("GET", "/adapters", undefined, { quiet: true }));
  } catch {
    adapters = []; // signed out, or a server without adapters: the select offers none
  }
  fill();
}

// The request's adapter fields (none when no adapter is chosen or the fieldset is hidden).
export function adapterFields() {
  const select = $("#adapter");
  if (select.closest("[hidden]") || select.value === "") return {};
  const fields = { adapter: select.value };
  const scale = $("#adapter_scale").value.trim();
  if (scale !== "") fields.adapter_scale = Number(scale);
  return fields;
}

new MutationObserver(load).observe($("#model"), { childList: true });
// back on the Generate tab: adapters trained meanwhile (a finetune) appear
$("#tab-generate").addEventListener("click", load);
$("#model").addEventListener("change", fill);
$("#adapter").addEventListener("change", () => {
  $("#adapter_scale").disabled = $("#adapter").value === "";
});
