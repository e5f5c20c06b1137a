// The Fine-tune tab: your own audio files with captions (NAME.txt, or a metadata.jsonl), or
// one .zip / .tar.gz → POST /finetunes; the job's loss curve while it trains (polled from
// GET /finetunes/{id}), Cancel, and once it is done "Try it": the Generate form with the new
// adapter chosen.

import { api, ApiError, BASE, getKey, sleep } from "./api.js";
import { $, capabilitiesOf, clearErrors, modelLabel, showError } from "./ui.js";

const ARCHIVE = /\.(zip|tar\.gz|tgz|tar)$/i;
const ENDED = ["succeeded", "failed", "cancelled"];
const SVG = "http://www.w3.org/2000/svg";
// what a refusal's details or code say about which control it concerns
const SETTING_CONTROLS = { steps: "ft-steps", rank: "ft-rank", lr: "ft-lr",
  learning_rate: "ft-lr" };
const CODE_CONTROLS = { INVALID_ADAPTER: "ft-name", ADAPTER_EXISTS: "ft-name",
  INVALID_DATASET: "ft-files", INVALID_ARCHIVE: "ft-files", UNKNOWN_MODEL: "ft-model",
  UNSUPPORTED_FEATURE: "ft-model", FINETUNE_LIMIT_REACHED: "ft-files" };

const PANEL = `
  <form id="finetune" novalidate>
    <p class="help">Train a LoRA adapter on your own music: audio files (WAV, FLAC, OGG, MP3)
      with a caption each (<code>NAME.txt</code> beside it, or one <code>metadata.jsonl</code>),
      or one .zip / .tar.gz of them.</p>
    <div class="row">
      <div class="field grow">
        <label for="ft-name">Adapter name</label>
        <input id="ft-name" name="name" placeholder="my-style" spellcheck="false"
               aria-describedby="ft-name-error">
        <p id="ft-name-error" class="error" role="alert"></p>
      </div>
      <div class="field grow">
        <label for="ft-model">Base model</label>
        <select id="ft-model" name="model" aria-describedby="ft-model-error"></select>
        <p id="ft-model-error" class="error" role="alert"></p>
      </div>
    </div>
    <div class="field">
      <label for="ft-files">Dataset</label>
      <input id="ft-files" name="files" type="file" multiple
             accept="audio/*,.wav,.flac,.ogg,.mp3,.txt,.jsonl,.zip,.gz,.tgz,.tar"
             aria-describedby="ft-files-help ft-files-error">
      <p id="ft-files-help" class="help">Choose the audio files and their .txt captions
        together, or a single archive.</p>
      <p id="ft-files-error" class="error" role="alert"></p>
    </div>
    <div class="row">
      <div class="field">
        <label for="ft-steps">Steps</label>
        <input id="ft-steps" name="steps" type="number" min="1" step="1" value="200"
               inputmode="numeric" aria-describedby="ft-steps-error">
        <p id="ft-steps-error" class="error" role="alert"></p>
      </div>
      <div class="field">
        <label for="ft-rank">Rank</label>
        <input id="ft-rank" name="rank" type="number" min="1" step="1" value="16"
               inputmode="numeric" aria-describedby="ft-rank-error">
        <p id="ft-rank-error" class="error" role="alert"></p>
      </div>
      <div class="field">
        <label for="ft-lr">Learning rate</label>
        <input id="ft-lr" name="lr" type="number" min="0" step="any" value="0.0001"
               inputmode="decimal" aria-describedby="ft-lr-error">
        <p id="ft-lr-error" class="error" role="alert"></p>
      </div>
    </div>
    <div class="actions">
      <button type="submit" id="ft-start" class="primary">Start training</button>
      <button type="button" id="ft-cancel" hidden>Cancel</button>
      <p id="finetune-error" class="error" role="alert"></p>
    </div>
    <div id="ft-status" class="job-status" role="status" aria-live="polite" hidden>
      <span id="ft-status-text"></span>
      <progress id="ft-progress" max="1" value="0" aria-label="Training progress"></progress>
    </div>
  </form>
  <figure id="ft-curve" hidden>
    <svg id="ft-chart" viewBox="0 0 400 140" width="100%" role="img"
         aria-label="Training loss"></svg>
    <figcaption id="ft-chart-caption" class="help"></figcaption>
  </figure>
  <div id="ft-done" hidden>
    <div class="row">
      <div class="field grow">
        <label for="ft-prompt">Try it</label>
        <input id="ft-prompt" placeholder="a prompt in your style" value="in my style">
      </div>
    </div>
    <div class="actions">
      <button type="button" id="ft-try" class="primary">Try it</button>
    </div>
  </div>`;

// POST /finetunes: the form's settings and the chosen files (or the one archive).
async function submit(fields, files) {
  const data = new FormData();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== "" && value !== null && value !== undefined) data.append(name, value);
  }
  const archive = files.length === 1 && ARCHIVE.test(files[0].name);
  for (const file of files) {
    data.append(archive ? "archive" : "files", file, file.webkitRelativePath || file.name);
  }
  const headers = { Accept: "application/json" };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(`${BASE}/finetunes`, { method: "POST", headers, body: data });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "The server could not be reached.");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const err = (body && body.error) || {};
    throw new ApiError(response.status, err.code || `HTTP_${response.status}`,
      err.message || response.statusText, err.details);
  }
  return body;
}

// The loss history as a line (an SVG polyline scaled to the box), its range on the axis.
export function drawCurve(svg, history) {
  const points = history.filter((p) => Number.isFinite(p.loss));
  svg.replaceChildren();
  if (!points.length) return;
  const [w, h, pad] = [400, 140, 24];
  const steps = points.map((p) => p.step);
  const losses = points.map((p) => p.loss);
  const [s0, s1] = [Math.min(...steps), Math.max(...steps)];
  const [l0, l1] = [Math.min(...losses), Math.max(...losses)];
  const x = (s) => pad + ((s - s0) / Math.max(1, s1 - s0)) * (w - 2 * pad);
  const y = (l) => h - pad - ((l - l0) / (l1 - l0 || 1)) * (h - 2 * pad);
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.map((p) => `${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "currentColor");
  line.setAttribute("stroke-width", "2");
  line.classList.add("loss-line");
  const axis = document.createElementNS(SVG, "path");
  axis.setAttribute("d", `M${pad},${pad / 2} V${h - pad} H${w - pad / 2}`);
  axis.setAttribute("stroke", "currentColor");
  axis.setAttribute("fill", "none");
  axis.setAttribute("opacity", "0.4");
  const label = (text, lx, ly) => {
    const t = document.createElementNS(SVG, "text");
    t.setAttribute("x", lx);
    t.setAttribute("y", ly);
    t.setAttribute("font-size", "10");
    t.setAttribute("fill", "currentColor");
    t.textContent = text;
    return t;
  };
  svg.append(axis, line, label(l1.toFixed(3), 2, pad / 2 + 8), label(l0.toFixed(3), 2, h - pad),
    label(`step ${s1}`, w - pad - 40, h - 6));
  svg.setAttribute("aria-label",
    `Training loss from ${losses[0].toFixed(3)} to ${losses[losses.length - 1].toFixed(3)} over ${s1} steps`);
}

export class FinetunePanel {
  constructor(panel) {
    this.panel = panel;
    panel.innerHTML = PANEL;
    this.form = $("#finetune", panel);
    this.job = null;
    this.loaded = false;
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.start();
    });
    $("#ft-cancel", panel).addEventListener("click", () => this.cancel());
    $("#ft-try", panel).addEventListener("click", () => this.tryIt());
  }

  // the first time the tab is shown (signed in): the trainable models, and a job still running
  async open() {
    if (this.loaded || !getKey()) return;
    this.loaded = true;
    try {
      const { models } = await api("GET", "/models");
      const trainable = models.filter((m) => {
        const caps = capabilitiesOf(m);
        return caps.has("adapter") || ["musicgen", "acestep"].includes(m.family);
      });
      $("#ft-model", this.panel).replaceChildren(
        ...trainable.map((m) => new Option(modelLabel(m), m.id, false, Boolean(m.default))),
      );
      const { items } = await api("GET", "/finetunes?limit=1");
      if (items.length && !ENDED.includes(items[0].status)) this.watch(items[0]);
      else if (items.length) this.show(items[0]);
    } catch (exc) {
      this.loaded = false;
      $("#finetune-error", this.panel).textContent = exc.message;
    }
  }

  async start() {
    clearErrors(this.form);
    const files = [...$("#ft-files", this.panel).files];
    const name = $("#ft-name", this.panel).value.trim();
    if (!name) return showError(this.form, "ft-name", "Name the adapter.");
    if (!files.length) return showError(this.form, "ft-files", "Choose your audio files.");
    const fields = {
      name,
      model: $("#ft-model", this.panel).value,
      steps: $("#ft-steps", this.panel).value,
      rank: $("#ft-rank", this.panel).value,
      lr: $("#ft-lr", this.panel).value,
    };
    $("#ft-start", this.panel).disabled = true;
    try {
      this.watch(await submit(fields, files));
    } catch (exc) {
      $("#ft-start", this.panel).disabled = false;
      const control = SETTING_CONTROLS[exc.details && exc.details.setting]
        || CODE_CONTROLS[exc.code] || null;
      showError(this.form, control, exc.message);
    }
  }

  async watch(job) {
    this.job = job;
    this.show(job);
    while (this.job && this.job.task_id === job.task_id && !ENDED.includes(this.job.status)) {
      await sleep(1000);
      try {
        this.job = await api("GET", `/finetunes/${encodeURIComponent(job.task_id)}`);
      } catch (exc) {
        $("#finetune-error", this.panel).textContent = exc.message;
        continue;
      }
      this.show(this.job);
    }
  }

  show(job) {
    const running = !ENDED.includes(job.status);
    $("#ft-start", this.panel).disabled = running;
    $("#ft-cancel", this.panel).hidden = !running;
    $("#ft-status", this.panel).hidden = false;
    const progress = $("#ft-progress", this.panel);
    progress.value = job.progress;
    const loss = job.loss === null || job.loss === undefined ? "" : ` — loss ${job.loss.toFixed(4)}`;
    let text = `${job.adapter}: ${job.status}, step ${job.step} of ${job.total_steps}${loss}`;
    if (job.status === "queued" && job.queue_position) text += ` (queue position ${job.queue_position})`;
    if (job.status === "failed" && job.error) text += ` — ${job.error.message}`;
    $("#ft-status-text", this.panel).textContent = text;
    $("#ft-curve", this.panel).hidden = !job.loss_history.length;
    drawCurve($("#ft-chart", this.panel), job.loss_history);
    $("#ft-chart-caption", this.panel).textContent = job.loss_history.length
      ? `Loss per step (${job.loss_history.length} points)` : "";
    $("#ft-done", this.panel).hidden = job.status !== "succeeded";
  }

  async cancel() {
    if (!this.job) return;
    try {
      this.show(await api("DELETE", `/finetunes/${encodeURIComponent(this.job.task_id)}`));
    } catch (exc) {
      $("#finetune-error", this.panel).textContent = exc.message;
    }
  }

  // "Try it": the Generate form with the base model and this adapter chosen, the prompt in
  tryIt() {
    const job = this.job;
    if (!job) return;
    const prompt = $("#ft-prompt", this.panel).value.trim() || "in my style";
    // the base model first (the form refills its adapters for it), then this adapter, which
    // the form's list, loaded before it existed, may not have yet
    const model = $("#model");
    if ([...model.options].some((o) => o.value === job.model)) {
      model.value = job.model;
      model.dispatchEvent(new Event("change", { bubbles: true }));
    }
    const select = $("#adapter");
    if (![...select.options].some((o) => o.value === job.adapter)) {
      select.append(new Option(job.adapter, job.adapter));
    }
    select.value = job.adapter;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    $("#prompt").value = prompt;
    $("#tab-generate").click();
    $("#prompt").focus();
  }
}

const panel = document.getElementById("panel-finetune");
if (panel) {
  const finetunes = new FinetunePanel(panel);
  const tab = document.getElementById("tab-finetune");
  tab.addEventListener("click", () => finetunes.open());
  tab.addEventListener("focus", () => finetunes.open());
}
