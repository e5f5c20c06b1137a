// Small page helpers shared by the studio's modules: element lookup, errors shown next to
// the control they concern, and what a model can do (from GET /models).

export function $(selector, root = document) {
  return root.querySelector(selector);
}

// The model's capabilities. Older servers (no `family`) said "streaming" for "stream" and
// left "sampling" implicit for MusicGen: map those onto the current vocabulary.
export function capabilitiesOf(model) {
  const caps = new Set(model.capabilities || []);
  if (caps.has("streaming")) caps.add("stream");
  const family = familyOf(model);
  if (!model.family && family === "musicgen") caps.add("sampling");
  return caps;
}

export function familyOf(model) {
  if (model.family) return model.family;
  if (model.id === "composer") return "composer";
  if (model.id === "test-tone") return "test-tone";
  return "musicgen";
}

export function modelLabel(model) {
  const parts = [model.name];
  const family = familyOf(model);
  if (family !== model.name) parts.push(`(${family})`);
  if (model.default) parts.push("— default");
  return parts.join(" ");
}

// Show an API error next to its control: the element `#<control id>-error` inside `form`
// (or, failing that, the form's general error line `#<form id>-error`).
export function showError(form, field, message) {
  let box = field ? form.querySelector(`#${CSS.escape(field)}-error`) : null;
  if (box && box.closest("[hidden]")) box = null;
  if (!box) box = form.querySelector(`#${form.id}-error`);
  box.textContent = message;
  const control = field ? form.querySelector(`#${CSS.escape(field)}`) : null;
  if (control && !control.closest("[hidden]")) {
    control.setAttribute("aria-invalid", "true");
    control.focus();
  }
}

export function clearErrors(form) {
  for (const box of form.querySelectorAll(".error")) box.textContent = "";
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
  }
}

export function formatTime(iso) {
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}
