// The plan editor and a plan result's tools: "Draft plan" from the prompt (POST /plans), a
// section list to edit (name, length, styles, negative styles, lyrics), reordered by dragging
// or with each row's up/down buttons, sections added and removed; "Generate from plan"
// (POST /generate with `plan`, models with the "plan" capability), its progress by section;
// then on a result made from a plan: its sections (from metadata.plan) listed, each with
// "Regenerate" (POST /edit task replace), and "Extend" (POST /edit task extend).

import { api, ApiError, waitForJob } from "./api.js";
import { $, capabilitiesOf, clearErrors, showError } from "./ui.js";

const MIN_S = 3;
const MAX_S = 120;

function list(text) {
  return text.split(",").map((s) => s.trim()).filter(Boolean);
}

// A job's progress in words: a plan names the section it is making.
export function describeProgress(job) {
  const d = job.progress_detail;
  const percent = `${Math.round((job.progress || 0) * 100)}%`;
  if (!d || !d.sections) return `Generating… ${percent}`;
  const what = d.stage === "whole" ? "the whole song" : `section ${d.section} of ${d.sections}`;
  const name = d.stage === "whole" ? "" : ` (${d.name})`;
  const verb = d.stage === "repaint" ? "Repainting" : "Making";
  const steps = d.steps > 1 ? `, step ${d.step} of ${d.steps}` : "";
  return `${verb} ${what}${name}${steps}… ${percent}`;
}

// The plan a result was made from (metadata.plan), as POST /generate takes it back.
export function planOf(job) {
  const made = job && job.metadata && job.metadata.plan;
  if (!made || !Array.isArray(made.sections)) return null;
  const plan = {
    global_styles: made.global_styles || [],
    negative_styles: made.negative_styles || [],
    sections: made.sections.map((s) => ({
      name: s.name, duration: s.duration, styles: s.styles || [],
      negative_styles: s.negative_styles || [], lines: s.lines || [],
      ...(s.bpm ? { bpm: s.bpm } : {}), ...(s.key ? { key: s.key } : {}),
    })),
  };
  if (made.bpm) plan.bpm = made.bpm;
  if (made.key) plan.key = made.key;
  return plan;
}

// Run a job (POST path, body) and follow it; `status` shows where it is.
export async function runJob(path, body, status) {
  const submitted = await api("POST", path, body);
  const show = (text, value, state) => {
    status.box.hidden = false;
    status.box.dataset.state = state;
    status.text.textContent = text;
    if (value === null) status.bar.removeAttribute("value");
    else status.bar.value = value;
  };
  show("Queued…", null, "queued");
  const job = await waitForJob(submitted.task_id, (j) => {
    if (j.status === "running") show(describeProgress(j), j.progress, "running");
    else if (j.status === "queued") show("Queued…", null, "queued");
  });
  if (job.status === "succeeded") show(`Done: ${job.duration.toFixed(1)} s of audio.`, 1, "succeeded");
  else show(`${job.status}: ${job.error ? job.error.message : ""}`, 0, job.status);
  return job;
}

function statusOf(prefix) {
  return { box: $(`#${prefix}-status`), text: $(`#${prefix}-status-text`),
    bar: $(`#${prefix}-progress`) };
}

export class PlanEditor {
  // model(): the chosen model card; settings(): {prompt, duration, seed, model};
  // onDone(job): a job ended (shown as the result)
  constructor({ model, settings, onDone }) {
    this.model = model;
    this.settings = settings;
    this.onDone = onDone;
    this.plan = null;
    this.form = $("#generate");
    this.list = $("#plan-sections");
    this.dragging = null;
    $("#plan-draft").addEventListener("click", () => this.draft());
    $("#plan-add").addEventListener("click", () => {
      this.ensure();
      const n = this.plan.sections.length + 1;
      this.plan.sections.push({ name: `Section ${n}`, duration: 8, styles: [],
        negative_styles: [], lines: [] });
      this.render();
      this.rows()[this.rows().length - 1].querySelector(".sec-name").focus();
    });
    $("#plan-generate").addEventListener("click", () => this.generate());
  }

  ensure() {
    if (!this.plan) this.plan = { global_styles: [], negative_styles: [], sections: [] };
  }

  rows() {
    return [...this.list.querySelectorAll(".plan-section")];
  }

  async draft() {
    clearErrors(this.form);
    const { prompt, duration, seed } = this.settings();
    const body = { prompt: prompt.trim() || "music", duration: Math.max(MIN_S, duration || 30) };
    if (seed !== null) body.seed = seed;
    const button = $("#plan-draft");
    button.disabled = true;
    try {
      const { plan } = await api("POST", "/plans", body);
      // the prompt is sent again as a global style: keep the plan's own styles only
      plan.global_styles = (plan.global_styles || []).filter((s) => s !== body.prompt);
      this.plan = plan;
      this.render();
      this.rows()[0].querySelector(".sec-name").focus();
    } catch (exc) {
      showError(this.form, "plan", exc.message);
    } finally {
      button.disabled = false;
    }
  }

  render() {
    this.ensure();
    const sections = this.plan.sections;
    this.list.replaceChildren(...sections.map((s, i) => this.row(s, i, sections.length)));
    const total = sections.reduce((sum, s) => sum + Number(s.duration || 0), 0);
    $("#plan-total").textContent = sections.length
      ? `${sections.length} sections, ${total.toFixed(1)} s` : "";
    $("#plan-generate").disabled = !sections.length;
  }

  row(section, i, count) {
    const li = $("#plan-section-row").content.firstElementChild.cloneNode(true);
    li.dataset.index = String(i);
    const label = section.name || `section ${i + 1}`;
    const fields = {
      ".sec-name": [section.name, (v) => { section.name = v; }],
      ".sec-duration": [section.duration, (v) => { section.duration = Number(v); }],
      ".sec-styles": [(section.styles || []).join(", "), (v) => { section.styles = list(v); }],
      ".sec-negative": [(section.negative_styles || []).join(", "),
        (v) => { section.negative_styles = list(v); }],
      ".sec-lyrics": [(section.lines || []).join("\n"),
        (v) => { section.lines = v.split("\n").map((l) => l.trim()).filter(Boolean); }],
    };
    for (const [selector, [value, set]] of Object.entries(fields)) {
      const input = li.querySelector(selector);
      input.value = value ?? "";
      input.addEventListener("input", () => {
        set(input.value);
        if (selector === ".sec-duration") this.totals();
      });
    }
    li.querySelector(".sec-duration").min = String(MIN_S);
    li.querySelector(".sec-duration").max = String(MAX_S);
    const up = li.querySelector(".sec-up");
    const down = li.querySelector(".sec-down");
    const remove = li.querySelector(".sec-remove");
    up.disabled = i === 0;
    down.disabled = i === count - 1;
    const name = (text) => {
      up.setAttribute("aria-label", `Move ${text} up`);
      down.setAttribute("aria-label", `Move ${text} down`);
      remove.setAttribute("aria-label", `Remove ${text}`);
    };
    name(label);
    li.querySelector(".sec-name").addEventListener("input", (event) => {
      name(event.target.value || `section ${i + 1}`);
    });
    up.addEventListener("click", () => this.move(i, i - 1, ".sec-up"));
    down.addEventListener("click", () => this.move(i, i + 1, ".sec-down"));
    remove.addEventListener("click", () => {
      this.plan.sections.splice(i, 1);
      this.render();
      const rows = this.rows();
      (rows[Math.min(i, rows.length - 1)]?.querySelector(".sec-name") || $("#plan-add")).focus();
    });
    // drag to reorder: the whole row is draggable by its handle
    const handle = li.querySelector(".sec-handle");
    handle.addEventListener("pointerdown", () => { li.draggable = true; });
    li.addEventListener("dragstart", (event) => {
      this.dragging = i;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", String(i));
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => {
      li.draggable = false;
      li.classList.remove("dragging");
    });
    li.addEventListener("dragover", (event) => {
      if (this.dragging !== null) event.preventDefault();
    });
    li.addEventListener("drop", (event) => {
      event.preventDefault();
      const from = this.dragging ?? Number(event.dataTransfer.getData("text/plain"));
      this.dragging = null;
      if (Number.isInteger(from) && from !== i) this.move(from, i, ".sec-handle");
    });
    return li;
  }

  totals() {
    const sections = this.plan.sections;
    const total = sections.reduce((sum, s) => sum + Number(s.duration || 0), 0);
    $("#plan-total").textContent = `${sections.length} sections, ${total.toFixed(1)} s`;
  }

  move(from, to, focus) {
    const sections = this.plan.sections;
    if (to < 0 || to >= sections.length) return;
    const [moved] = sections.splice(from, 1);
    sections.splice(to, 0, moved);
    this.render();
    const target = this.rows()[to].querySelector(focus);
    (target && !target.disabled ? target : this.rows()[to].querySelector(".sec-name")).focus();
    $("#plan-live").textContent = `${moved.name} moved to position ${to + 1}.`;
  }

  async generate() {
    if (!this.plan || !this.plan.sections.length) return;
    clearErrors(this.form);
    const { prompt, seed, model } = this.settings();
    const body = { prompt, model, plan: this.plan };
    if (seed !== null) body.seed = seed;
    const button = $("#plan-generate");
    button.disabled = true;
    try {
      this.onDone(await runJob("/generate", body, statusOf("plan")));
    } catch (exc) {
      const index = exc instanceof ApiError ? exc.details.section : undefined;
      if (Number.isInteger(index) && this.rows()[index]) {
        this.rows()[index].querySelector(".sec-duration").setAttribute("aria-invalid", "true");
      }
      showError(this.form, "plan", exc.message);
    } finally {
      button.disabled = false;
    }
  }

  // Show what a plan can do here: the editor only for models with "plan".
  update() {
    const model = this.model();
    $("#plan-editor").hidden = !(model && capabilitiesOf(model).has("plan"));
  }
}

// A result's sections (metadata.plan): listed with their times, "Regenerate" each; "Extend".
export class PlanResult {
  constructor({ onDone }) {
    this.onDone = onDone;
    this.job = null;
    this.box = $("#result-plan");
    $("#extend-button").addEventListener("click", () => this.extend());
  }

  show(job) {
    this.job = job;
    const made = job.metadata && job.metadata.plan;
    const sections = made && Array.isArray(made.sections) ? made.sections : [];
    $("#result-sections").replaceChildren(...sections.map((s, i) => {
      const li = document.createElement("li");
      li.className = "result-section";
      const label = document.createElement("span");
      label.textContent = `${s.name} · ${s.start.toFixed(1)}–${s.end.toFixed(1)} s`;
      const again = document.createElement("button");
      again.type = "button";
      again.textContent = "Regenerate";
      again.setAttribute("aria-label", `Regenerate ${s.name}`);
      again.addEventListener("click", () => this.replace(i, again));
      li.append(label, " ", again);
      return li;
    }));
    $("#result-sections").hidden = !sections.length;
    $("#result-edit-error").textContent = "";
    this.box.hidden = false;
    return sections.map((s) => ({ name: s.name, start: s.start, end: s.end }));
  }

  async replace(index, button) {
    const plan = planOf(this.job);
    const body = { task: "replace", model: this.job.model, source_job_id: this.job.task_id,
      plan, section: index, seed: Math.floor(Math.random() * 2 ** 31) };
    await this.run(body, button);
  }

  async extend() {
    const seconds = Number($("#extend-seconds").value);
    const body = { task: "extend", model: this.job.model, source_job_id: this.job.task_id,
      prompt: $("#extend-prompt").value.trim() || this.job.prompt || "", duration: seconds };
    await this.run(body, $("#extend-button"));
  }

  async run(body, button) {
    $("#result-edit-error").textContent = "";
    button.disabled = true;
    try {
      this.onDone(await runJob("/edit", body, statusOf("result-edit")));
    } catch (exc) {
      $("#result-edit-error").textContent = exc.message;
    } finally {
      button.disabled = false;
    }
  }
}
