// The account's jobs (GET /generate), newest first: pages, a status filter, and per job
// play / download / reuse / cancel / delete. Jobs live on the server until deleted here
// (DELETE /generate/{id}?purge=true, after a confirmation) or by its retention, so the list
// is the same after a reload or on another browser.

import { api, audioUrl } from "./api.js";
import { $, formatTime } from "./ui.js";

const PAGE = 8;

export class History {
  constructor({ onPlay, onReuse, onDelete = () => {} }) {
    this.onPlay = onPlay;
    this.onReuse = onReuse;
    this.onDelete = onDelete;
    this.offset = 0;
    this.total = 0;
    this.poll = 0;
    $("#history-filter").addEventListener("change", () => {
      this.offset = 0;
      this.load();
    });
    $("#history-refresh").addEventListener("click", () => this.load());
    $("#history-prev").addEventListener("click", () => {
      this.offset = Math.max(0, this.offset - PAGE);
      this.load();
    });
    $("#history-next").addEventListener("click", () => {
      this.offset += PAGE;
      this.load();
    });
  }

  clear() {
    clearTimeout(this.poll);
    $("#history-list").replaceChildren();
    $("#history-range").textContent = "";
  }

  async load() {
    clearTimeout(this.poll);
    const status = $("#history-filter").value;
    const query = new URLSearchParams({ limit: String(PAGE), offset: String(this.offset) });
    if (status) query.set("status", status);
    $("#history-error").textContent = "";
    let page;
    try {
      page = await api("GET", `/generate?${query}`);
    } catch (exc) {
      $("#history-error").textContent = exc.message;
      return;
    }
    if (!page.items.length && this.offset > 0 && page.total > 0) {
      this.offset = Math.max(0, Math.floor((page.total - 1) / PAGE) * PAGE);
      this.load();
      return;
    }
    this.total = page.total;
    this.render(page);
    // jobs still queued or running: look again shortly
    if (page.items.some((job) => job.status === "queued" || job.status === "running")) {
      this.poll = setTimeout(() => this.load(), 2000);
    }
  }

  render(page) {
    const list = $("#history-list");
    if (!page.items.length) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = $("#history-filter").value ? "No jobs with this status." : "No jobs yet.";
      list.replaceChildren(empty);
    } else {
      list.replaceChildren(...page.items.map((job) => this.item(job)));
    }
    const first = page.total ? page.offset + 1 : 0;
    const last = page.offset + page.items.length;
    $("#history-range").textContent = `${first}–${last} of ${page.total}`;
    $("#history-prev").disabled = page.offset === 0;
    $("#history-next").disabled = last >= page.total;
  }

  // An ended job and its audio, for good: asked first; focus then goes to the list's heading.
  async remove(job, event) {
    const what = job.prompt ? `“${job.prompt.slice(0, 60)}”` : "this job";
    if (!window.confirm(`Delete ${what} and its audio? This cannot be undone.`)) return;
    event.target.disabled = true;
    try {
      await api("DELETE", `/generate/${encodeURIComponent(job.task_id)}?purge=true`);
      this.onDelete(job);
    } catch (exc) {
      $("#history-error").textContent = exc.message;
      event.target.disabled = false;
      return;
    }
    await this.load();
    $("#history-title").tabIndex = -1;
    $("#history-title").focus();
  }

  item(job) {
    const li = document.createElement("li");
    li.className = "job";
    li.dataset.taskId = job.task_id;
    li.dataset.status = job.status;
    const title = document.createElement("p");
    title.className = "job-prompt";
    const finetune = job.type === "finetune"; // (its loss curve is on the Fine-tune tab)
    title.textContent = finetune ? `Fine-tune of adapter “${job.params.adapter}”`
      : job.prompt || "(no prompt)";
    const meta = document.createElement("p");
    meta.className = "job-meta";
    const badge = document.createElement("span");
    badge.className = `badge ${job.status}`;
    badge.textContent = job.status;
    const model = job.model.split("/").pop();
    const bits = [model, `${job.duration.toFixed(1)} s`, `seed ${job.seed ?? "–"}`, job.type];
    if (job.status === "queued" && job.queue_position) {
      bits.unshift(`${ordinal(job.queue_position)} in the queue`);
    }
    meta.append(badge, ` ${bits.join(" · ")} · `, time(job.created_at));
    if (job.status === "failed" && job.error) meta.append(` — ${job.error.message}`);
    const actions = document.createElement("div");
    actions.className = "job-actions";
    const label = job.prompt.slice(0, 40);
    if (job.status === "succeeded" && job.audio_url) {
      actions.append(button("Play", `Play “${label}”`, () => this.onPlay(job)));
      const link = document.createElement("a");
      link.className = "button";
      link.href = audioUrl(job.audio_url, "wav");
      link.download = `${job.task_id}.wav`;
      link.textContent = "Download";
      link.setAttribute("aria-label", `Download “${label}” as WAV`);
      actions.append(link);
    }
    if (job.type !== "multitrack" && !finetune) {
      actions.append(button("Reuse", `Use the settings of “${label}” again`, () =>
        this.onReuse(job)));
    }
    if (job.status === "queued" || job.status === "running") {
      actions.append(button("Cancel", `Cancel “${label}”`, async (event) => {
        event.target.disabled = true;
        try {
          await api("DELETE", `/generate/${job.task_id}`);
        } catch (exc) {
          $("#history-error").textContent = exc.message;
        }
        this.load();
      }));
    } else {
      actions.append(button("Delete", `Delete “${label}”`, (event) => this.remove(job, event)));
    }
    li.append(title, meta, actions);
    return li;
  }
}

// 1 → "1st", 2 → "2nd", 11 → "11th"
export function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
  return `${n}${suffix}`;
}

function time(iso) {
  const element = document.createElement("time");
  element.dateTime = iso;
  element.textContent = formatTime(iso);
  return element;
}

function button(text, label, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}
