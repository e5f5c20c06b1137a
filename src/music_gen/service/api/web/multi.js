// The multi-instrument panel: instrument prompts → POST /multi-instrument; the result's mix,
// one row per stem (played together, with mute and solo), and the MIDI download.

import { api, ApiError, audioUrl, waitForJob } from "./api.js";
import { StemPlayer } from "./audio.js";
import { $, capabilitiesOf, clearErrors, modelLabel, showError } from "./ui.js";

const DEFAULTS = [
  ["drums", "laid-back hip hop drums"],
  ["bass", "warm electric bass"],
  ["piano", "jazzy electric piano chords"],
];
// API field → the control it concerns
const CONTROLS = {
  instruments: "instruments",
  duration: "multi-duration",
  mix_preset: "mix-preset",
  mix_settings: "mix-preset",
  seed: "multi-seed",
  model: "multi-model",
  prompt: "instruments",
};

export class MultiPanel {
  constructor({ onJob = () => {} } = {}) {
    this.onJob = onJob; // a job was queued or has ended (the history shows it)
    this.form = $("#multi");
    this.stems = new StemPlayer();
    for (const [name, prompt] of DEFAULTS) this.addRow(name, prompt);
    $("#add-instrument").addEventListener("click", () => {
      this.addRow("", "");
      const rows = this.form.querySelectorAll(".inst-name");
      rows[rows.length - 1].focus();
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.form.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.submit();
      }
    });
    $("#stems-play").addEventListener("click", () => this.stems.play());
    $("#stems-stop").addEventListener("click", () => this.stems.stop());
  }

  setModels(models) {
    const select = $("#multi-model");
    const usable = models.filter((m) => capabilitiesOf(m).has("multitrack"));
    select.replaceChildren(
      ...usable.map((m) => new Option(modelLabel(m), m.id, false, m.id === "composer")),
    );
  }

  addRow(name, prompt) {
    const row = $("#instrument-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".inst-name").value = name;
    row.querySelector(".inst-prompt").value = prompt;
    row.querySelector(".remove").addEventListener("click", () => {
      row.remove();
      this.renumber();
    });
    $("#instruments").append(row);
    this.renumber();
  }

  renumber() {
    for (const [i, row] of [...$("#instruments").children].entries()) {
      row.querySelector(".remove").setAttribute("aria-label", `Remove instrument ${i + 1}`);
    }
  }

  body() {
    const instruments = {};
    for (const row of $("#instruments").children) {
      const name = row.querySelector(".inst-name").value.trim();
      const prompt = row.querySelector(".inst-prompt").value;
      if (name || prompt.trim()) instruments[name] = prompt;
    }
    const body = { instruments, duration: Number($("#multi-duration").value) };
    if ($("#mix-preset").value) body.mix_preset = $("#mix-preset").value;
    if ($("#multi-seed").value.trim() !== "") body.seed = Number($("#multi-seed").value);
    if ($("#multi-model").value) body.model = $("#multi-model").value;
    return body;
  }

  status(text, progress) {
    $("#multi-status").hidden = false;
    $("#multi-status-text").textContent = text;
    if (progress === null) $("#multi-progress").removeAttribute("value");
    else $("#multi-progress").value = progress;
  }

  async submit() {
    const button = $("#multi-button");
    if (button.disabled) return;
    clearErrors(this.form);
    button.disabled = true;
    try {
      const submitted = await api("POST", "/multi-instrument", this.body());
      this.status("Queued…", null);
      this.onJob();
      const job = await waitForJob(submitted.task_id, (j) => {
        const pct = Math.round(j.progress * 100);
        this.status(j.status === "running" ? `Generating stems… ${pct}%` : `${j.status}…`,
          j.status === "queued" ? null : j.progress);
      });
      this.onJob();
      if (job.status !== "succeeded") {
        const reason = job.error ? job.error.message : job.status;
        this.status(`Not done: ${reason}`, 0);
        showError(this.form, null, reason);
        return;
      }
      this.status(`Done: ${job.duration.toFixed(1)} s, ${Object.keys(job.stems).length} stems.`, 1);
      await this.show(job);
    } catch (exc) {
      if (exc instanceof ApiError) {
        showError(this.form, CONTROLS[exc.field] || null, exc.message);
      } else {
        showError(this.form, null, String(exc.message || exc));
      }
    } finally {
      button.disabled = false;
    }
  }

  async show(job) {
    $("#multi-result").hidden = false;
    $("#mix-audio").src = audioUrl(job.audio_url);
    const downloads = $("#mix-downloads");
    downloads.replaceChildren(document.createTextNode("Download: "));
    for (const format of ["wav", "mp3", "flac"]) {
      downloads.append(link(audioUrl(job.audio_url, format), format.toUpperCase(),
        `${job.task_id}-mix.${format}`), " ");
    }
    if (job.midi_url) {
      downloads.append(link(audioUrl(job.midi_url), "MIDI", `${job.task_id}.mid`));
    }
    const list = $("#stems");
    list.replaceChildren();
    for (const [name, url] of Object.entries(job.stems)) {
      const li = document.createElement("li");
      li.className = "stem";
      li.dataset.stem = name;
      const title = document.createElement("span");
      title.className = "stem-name";
      title.textContent = name;
      const mute = toggle("Mute", `Mute ${name}`, () => this.stems.toggle(this.stems.muted, name));
      const solo = toggle("Solo", `Solo ${name}`, () => this.stems.toggle(this.stems.soloed, name));
      const download = link(audioUrl(url, "wav"), "WAV", `${job.task_id}-${name}.wav`);
      download.setAttribute("aria-label", `Download the ${name} stem as WAV`);
      li.append(title, mute, solo, download);
      list.append(li);
    }
    $("#stems-play").disabled = true;
    try {
      const stems = Object.entries(job.stems).map(([name, url]) => [name, audioUrl(url)]);
      await this.stems.load(Object.fromEntries(stems));
    } finally {
      $("#stems-play").disabled = false;
    }
  }
}

function link(href, text, filename) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.className = "button";
  if (filename) a.download = filename;
  return a;
}

function toggle(text, label, onChange) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.setAttribute("aria-pressed", "false");
  b.addEventListener("click", () => {
    b.setAttribute("aria-pressed", String(b.getAttribute("aria-pressed") !== "true"));
    onChange();
  });
  return b;
}
