// Song edits of the result on show (POST /edit, models with the "edit" capability): repaint
// a range (selected by dragging across the waveform, or typed), cover with a strength,
// extract a stem, add a track (lego). The edited song becomes the result.

import { ApiError } from "./api.js";
import { runJob } from "./plan.js";
import { $, capabilitiesOf, modelLabel } from "./ui.js";

// the stems ACE-Step knows (params.TRACKS)
const TRACKS = ["vocals", "backing_vocals", "drums", "bass", "guitar", "keyboard", "percussion",
  "strings", "synth", "fx", "brass", "woodwinds"];
// which controls each task shows
const USES = {
  repaint: ["range", "prompt"],
  cover: ["strength", "prompt"],
  extract: ["track"],
  lego: ["track", "range", "prompt"],
};

export class EditPanel {
  constructor({ onDone }) {
    this.onDone = onDone;
    this.job = null;
    this.box = $("#result-edit");
    const track = $("#edit-track");
    track.replaceChildren(...TRACKS.map((t) => new Option(t.replace("_", " "), t)));
    $("#edit-task").addEventListener("change", () => this.update());
    $("#edit-button").addEventListener("click", () => this.apply());
    for (const id of ["edit-start", "edit-end"]) {
      $(`#${id}`).addEventListener("input", () => this.typed());
    }
    this.visual = null;
    this.update();
  }

  setModels(models) {
    const usable = models.filter((m) => capabilitiesOf(m).has("edit"));
    $("#edit-model").replaceChildren(...usable.map((m) => new Option(modelLabel(m), m.id)));
    this.usable = usable.length > 0;
    this.box.hidden = !this.usable || !this.job;
  }

  show(job, visual) {
    this.job = job;
    this.visual = visual;
    this.box.hidden = !this.usable;
    $("#edit-error").textContent = "";
    if (this.usable && [...$("#edit-model").options].some((o) => o.value === job.model)) {
      $("#edit-model").value = job.model; // the song's own model where it edits
    }
  }

  // A range dragged across the waveform.
  select({ start, end }) {
    $("#edit-start").value = start.toFixed(2);
    $("#edit-end").value = end.toFixed(2);
    $("#edit-range-help").textContent = `Selected ${start.toFixed(2)}–${end.toFixed(2)} s.`;
  }

  typed() {
    const start = Number($("#edit-start").value);
    const end = Number($("#edit-end").value);
    if (this.visual && $("#edit-start").value !== "" && end > start) {
      this.visual.setSelection({ start, end });
    }
  }

  update() {
    const uses = USES[$("#edit-task").value] || [];
    for (const part of ["range", "strength", "track", "prompt"]) {
      $(`#edit-${part}-field`).hidden = !uses.includes(part);
    }
  }

  async apply() {
    if (!this.job) return;
    const task = $("#edit-task").value;
    const uses = USES[task];
    const body = { task, model: $("#edit-model").value, source_job_id: this.job.task_id };
    if (uses.includes("prompt")) body.prompt = $("#edit-prompt").value.trim();
    if (uses.includes("range")) {
      for (const [name, id] of [["start", "edit-start"], ["end", "edit-end"]]) {
        const value = $(`#${id}`).value.trim();
        if (value !== "") body[name] = Number(value);
      }
    }
    if (uses.includes("strength")) body.strength = Number($("#edit-strength").value);
    if (uses.includes("track")) body.track = $("#edit-track").value;
    $("#edit-error").textContent = "";
    $("#edit-button").disabled = true;
    try {
      const status = { box: $("#edit-status"), text: $("#edit-status-text"),
        bar: $("#edit-progress") };
      const job = await runJob("/edit", body, status);
      if (job.status !== "succeeded" && job.error) throw new Error(job.error.message);
      if (this.visual) this.visual.setSelection(null);
      this.onDone(job);
    } catch (exc) {
      const where = exc instanceof ApiError && exc.code === "INVALID_RANGE" ? " (the range)" : "";
      $("#edit-error").textContent = `${exc.message}${where}`;
    } finally {
      $("#edit-button").disabled = false;
    }
  }
}
