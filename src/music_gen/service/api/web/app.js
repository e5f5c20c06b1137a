// The studio page: sign-in, the generate form (controls follow the chosen model's
// capabilities), running jobs over REST or the streaming WebSocket, the result player and
// the tabs. History and the multi-instrument panel live in their own modules.

import {
  api, ApiError, audioUrl, getKey, requestFields, setKey, streamSocket, upload, waitForJob,
} from "./api.js";
import { adapterFields } from "./adapters.js";
import { audioContext, fetchAndDecode, StreamPlayer, Visualizer } from "./audio.js";
import { History, ordinal } from "./history.js";
import { MultiPanel } from "./multi.js";
import { EditPanel } from "./edit.js";
import { describeProgress, PlanEditor, PlanResult } from "./plan.js";
import { capabilitiesOf, clearErrors, modelLabel, showError, $ } from "./ui.js";

const KEYS = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"];
const SAMPLING = ["temperature", "top_k", "top_p"];
const SONG = ["lyrics", "bpm", "key", "time_signature", "language", "steps"];
const FILES = ["melody", "continuation", "reference_audio"];
const NUMBERS = new Set(["bpm", "steps"]);
// control → the request field names it may have on a server (the first one accepted is used)
// (file controls: the file goes to POST /uploads first, the request names its upload_id)
const ALIASES = {
  language: ["vocal_language", "language"],
  reference_audio: ["reference_upload_id"],
  melody: ["melody_upload_id"],
  continuation: ["continuation_upload_id"],
};

const state = {
  models: [],
  fields: null, // what POST /generate accepts here (OpenAPI), null: unknown
  job: null, // the result on show
  running: null, // {taskId, abort, socket, player}
};

const form = $("#generate");
const player = $("#player");
const visual = new Visualizer($("#visual"), player);
const history = new History({
  onPlay: (job) => showResult(job, { play: true }),
  onReuse: reuse,
  onDelete: forget,
});
const multi = new MultiPanel({ onJob: () => history.load() });
const planEditor = new PlanEditor({
  model: currentModel,
  settings: () => ({ prompt: $("#prompt").value, duration: numberOf("duration"),
    seed: numberOf("seed"), model: $("#model").value || null }),
  onDone: finish,
});
const planResult = new PlanResult({ onDone: finish });
const edits = new EditPanel({ onDone: finish });
visual.onselect = (range) => edits.select(range);

// ---------- sign-in ----------

async function signIn(key, { quiet = false } = {}) {
  $("#api-key-error").textContent = "";
  try {
    const { models } = await api("GET", "/models", undefined, { key });
    setKey(key);
    setSignedIn(true, key);
    setModels(models);
    history.load();
    if (!quiet) $("#prompt").focus();
  } catch (exc) {
    setSignedIn(false);
    if (exc instanceof ApiError && exc.status === 401) setKey("");
    if (!quiet || exc.status === 401) {
      let text = exc.message;
      if (exc.status === 401) {
        text = key
          ? `${exc.message}. Check the key and try again.`
          : "This server needs an API key: paste one from `music-gen keys create`.";
      }
      $("#api-key-error").textContent = text;
      $("#api-key").setAttribute("aria-invalid", "true");
    }
  }
}

function setSignedIn(signedIn, key = "") {
  $(".signed-out").hidden = signedIn;
  $(".signed-in").hidden = !signedIn;
  $("#main").inert = !signedIn;
  $("#main").setAttribute("aria-disabled", String(!signedIn));
  $("#api-key").removeAttribute("aria-invalid");
  const who = key ? `Signed in with ${key.slice(0, 8)}…` : "Signed in (this server needs no key)";
  $("#whoami").textContent = signedIn ? who : "";
  if (signedIn) $("#api-key").value = "";
}

$("#signin").addEventListener("submit", (event) => {
  event.preventDefault();
  // an empty key signs in only where the server runs without keys (music-gen serve --no-auth)
  signIn($("#api-key").value.trim());
});

// any call refused for the key (revoked meanwhile): back to the sign-in form, saying why
document.addEventListener("music-gen:unauthorized", (event) => {
  if (!getKey()) return;
  setKey("");
  setSignedIn(false);
  history.clear();
  $("#api-key-error").textContent = `${event.detail.message}. Sign in again with a valid key.`;
});

$("#signout").addEventListener("click", () => {
  setKey("");
  setSignedIn(false);
  history.clear();
  $("#result").hidden = true;
  $("#api-key").focus();
});

// ---------- models and capabilities ----------

function setModels(models) {
  state.models = models;
  const select = $("#model");
  const previous = select.value;
  select.replaceChildren(
    ...models.map((m) => {
      const option = new Option(modelLabel(m), m.id, false, m.default);
      return option;
    }),
  );
  if (models.some((m) => m.id === previous)) select.value = previous;
  multi.setModels(models);
  edits.setModels(models);
  applyCapabilities();
}

function currentModel() {
  return state.models.find((m) => m.id === $("#model").value) || null;
}

// The request field for a control on this server (null: the server does not take it).
function fieldFor(control) {
  const names = ALIASES[control] || [control];
  if (state.fields === null) return names[0];
  return names.find((name) => state.fields.has(name)) || null;
}

// The control an API error names (the reverse of fieldFor).
function controlFor(field) {
  if (!field) return null;
  const entry = Object.entries(ALIASES).find(([, names]) => names.includes(field));
  return entry ? entry[0] : field;
}

// Show only the controls the chosen model can use (and the server accepts).
function applyCapabilities() {
  const model = currentModel();
  const caps = model ? capabilitiesOf(model) : new Set();
  for (const element of form.querySelectorAll("[data-cap]")) {
    const wanted = element.dataset.cap.split(" ");
    const inputs = element.matches("input, select, textarea")
      ? [element]
      : [...element.querySelectorAll("input, select, textarea")];
    const control = inputs.length === 1 ? inputs[0].name : null;
    const serverOk = !control || control === "stream" || fieldFor(control) !== null;
    element.hidden = !wanted.some((c) => caps.has(c)) || !serverOk;
  }
  if (model) {
    const info = [`${model.sample_rate / 1000} kHz`, model.channels === 2 ? "stereo" : "mono"];
    if (model.size && model.size !== "unknown") info.push(`size ${model.size}`);
    if (model.license) {
      const use = model.commercial_use === false ? " (non-commercial)" : "";
      info.push(`licence ${model.license}${use}`);
    }
    info.push((model.capabilities || []).join(", "));
    $("#model-info").textContent = info.join(" · ");
  }
}

$("#model").addEventListener("change", applyCapabilities);

// ---------- the request ----------

function numberOf(id) {
  const value = $(`#${id}`).value.trim();
  return value === "" ? null : Number(value);
}

function visible(id) {
  const element = $(`#${id}`);
  return !element.closest("[hidden]");
}

async function requestBody(uploads) {
  const body = { prompt: $("#prompt").value, model: $("#model").value || null };
  const duration = numberOf("duration");
  if (duration !== null) body.duration = duration;
  const seed = numberOf("seed");
  if (seed !== null) body.seed = seed;
  if (visible("guidance_scale") && numberOf("guidance_scale") !== null) {
    body.guidance_scale = numberOf("guidance_scale");
  }
  if (visible("negative_prompt") && $("#negative_prompt").value.trim() !== "") {
    body.negative_prompt = $("#negative_prompt").value.trim();
  }
  for (const name of SAMPLING) {
    if (visible(name) && numberOf(name) !== null) body[name] = numberOf(name);
  }
  for (const name of SONG) {
    if (!visible(name)) continue;
    const value = $(`#${name}`).value.trim();
    if (value !== "") body[fieldFor(name)] = NUMBERS.has(name) ? Number(value) : value;
  }
  if (visible("loop") && $("#loop").checked) {
    // a seamless loop: its length is bars × beats × 60 / bpm, not the duration
    delete body.duration;
    delete body.time_signature;
    Object.assign(body, {
      loop: true, bpm: numberOf("loop_bpm"), bars: numberOf("bars"),
      beats_per_bar: numberOf("beats_per_bar"),
    });
  }
  Object.assign(body, adapterFields()); // the LoRA adapter (adapters.js)
  for (const name of FILES) {
    const input = $(`#${name}`);
    if (visible(name) && input.files.length) {
      try {
        const { upload_id: id } = await upload(input.files[0]);
        uploads.push(id);
        body[fieldFor(name)] = id;
      } catch (exc) {
        if (exc instanceof ApiError) exc.control = name; // shown next to this file input
        throw exc;
      }
    }
  }
  return body;
}

// ---------- running a job ----------

function setStatus(text, progress, stateName) {
  const box = $("#job-status");
  box.hidden = false;
  box.dataset.state = stateName;
  $("#job-status-text").textContent = text;
  const bar = $("#job-progress");
  if (progress === null) bar.removeAttribute("value");
  else bar.value = progress;
}

function describe(job) {
  if (job.status === "queued") {
    return job.queue_position ? `Queued: ${ordinal(job.queue_position)} in the queue…` : "Queued…";
  }
  if (job.status === "running") return describeProgress(job);
  if (job.status === "succeeded") return `Done: ${job.duration.toFixed(1)} s of audio.`;
  if (job.status === "cancelled") return "Cancelled.";
  return `Failed: ${job.error ? job.error.message : "unknown reason"}`;
}

function setRunning(running) {
  state.running = running;
  form.setAttribute("aria-busy", String(Boolean(running)));
  $("#generate-button").disabled = Boolean(running);
  $("#cancel-button").hidden = !running;
}

async function generate() {
  if (state.running || state.starting) return;
  state.starting = true; // until the job runs (uploads first): one submit per click
  audioContext(); // in the click: lets stream playback start without another gesture
  clearErrors(form);
  const uploads = []; // files sent for this request only: deleted once the job has ended
  try {
    const body = await requestBody(uploads);
    const stream = visible("stream") && $("#stream").checked && !body.loop; // loops: whole
    const job = stream ? await generateStreaming(body) : await generateRest(body);
    if (job) await finish(job);
  } catch (exc) {
    if (exc.name === "AbortError") return;
    if (exc instanceof ApiError) {
      showError(form, exc.control || controlFor(exc.field), exc.message);
      setStatus(`Error: ${exc.message}`, 0, "error");
    } else {
      showError(form, null, String(exc.message || exc));
    }
  } finally {
    state.starting = false;
    setRunning(null);
    for (const id of uploads) api("DELETE", `/uploads/${id}`).catch(() => {});
  }
}

async function generateRest(body) {
  const submitted = await api("POST", "/generate", body);
  const abort = new AbortController();
  setRunning({ taskId: submitted.task_id, abort });
  setStatus(`Queued (about ${Math.ceil(submitted.eta)} s)…`, null, "queued");
  return waitForJob(
    submitted.task_id,
    (job) => setStatus(describe(job), job.status === "queued" ? null : job.progress, job.status),
    { signal: abort.signal },
  );
}

// WS /ws/stream: chunks play as they arrive; the finished job is read back over REST. If the
// socket drops mid-job, the job (durable on the server) is followed by polling instead.
function generateStreaming(body) {
  return new Promise((resolve, reject) => {
    const socket = streamSocket();
    const streamPlayer = new StreamPlayer({ muted: player.muted });
    const running = { taskId: null, socket, player: streamPlayer, complete: false };
    let settled = false;
    const done = (value, error) => {
      if (settled) return;
      settled = true;
      if (error) reject(error);
      else resolve(value);
    };
    setRunning(running);
    setStatus("Connecting…", null, "queued");
    streamPlayer.onstart = ({ chunksReceived, contextState }) => {
      const box = $("#job-status");
      box.dataset.stream = "playing";
      box.dataset.audioContext = contextState;
      box.dataset.chunksAtStart = String(chunksReceived);
      box.dataset.completeAtStart = String(running.complete);
    };
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "generate", stream: true, ...body }));
    });
    socket.addEventListener("message", async (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "started") {
        running.taskId = message.task_id;
        setStatus(`Queued (about ${Math.ceil(message.eta)} s)…`, null, "queued");
      } else if (message.type === "audio_chunk") {
        const played = (message.offset + message.duration).toFixed(1);
        setStatus(`Streaming: ${played} of ${body.duration ?? "?"} s`, null, "streaming");
        streamPlayer.add(message).catch((exc) => showError(form, null, String(exc)));
      } else if (message.type === "complete") {
        running.complete = true;
        socket.close();
        api("GET", `/generate/${message.task_id}`).then(
          (job) => done({ ...job, streamPlayer }),
          (exc) => done(null, exc),
        );
      } else if (message.type === "cancelled") {
        socket.close();
        streamPlayer.stop();
        setStatus("Cancelled.", 0, "cancelled");
        done(null);
      } else if (message.type === "error") {
        socket.close();
        streamPlayer.stop();
        const e = message.error || {};
        const error = new ApiError(e.code === "UNAUTHORIZED" ? 401 : 400, e.code, e.message,
          e.details);
        if (error.status === 401) {
          document.dispatchEvent(new CustomEvent("music-gen:unauthorized", { detail: error }));
        }
        done(null, error);
      }
    });
    socket.addEventListener("close", (event) => {
      if (settled || running.complete) return;
      if (state.running !== running) {
        done(null); // cancelled from the page
      } else if (event.code === 4401 || event.code === 4429) {
        const status = event.code === 4401 ? 401 : 429;
        done(null, new ApiError(status, "STREAM_CLOSED", event.reason || "The stream was refused."));
      } else if (running.taskId) {
        setStatus("The stream broke off; following the job…", null, "running");
        waitForJob(running.taskId, (job) => setStatus(describe(job), job.progress, job.status)).then(
          (job) => done(job),
          (exc) => done(null, exc),
        );
      } else {
        done(null, new ApiError(0, "NETWORK_ERROR", "The stream could not be opened."));
      }
    });
  });
}

async function cancel() {
  const running = state.running;
  if (!running) return;
  $("#cancel-button").disabled = true;
  try {
    if (running.taskId) await api("DELETE", `/generate/${running.taskId}`);
    if (running.abort) running.abort.abort();
    if (running.socket) running.socket.close();
    if (running.player) running.player.stop();
    setStatus("Cancelled.", 0, "cancelled");
  } catch (exc) {
    showError(form, null, exc.message);
  } finally {
    $("#cancel-button").disabled = false;
    setRunning(null);
    history.load();
  }
}

async function finish(job) {
  if (job.streamPlayer) state.streamPlayer = job.streamPlayer;
  setStatus(describe(job), job.status === "succeeded" ? 1 : 0, job.status);
  if (job.status === "failed" && job.error) showError(form, null, job.error.message);
  if (job.status === "succeeded") await showResult(job);
  history.load();
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  generate();
});
form.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    generate();
  }
});
$("#cancel-button").addEventListener("click", cancel);
$("#dice").addEventListener("click", () => {
  $("#seed").value = String(Math.floor(Math.random() * 2 ** 31));
});
for (const button of document.querySelectorAll(".lyrics-tools button")) {
  button.addEventListener("click", () => {
    const area = $("#lyrics");
    const at = area.selectionStart ?? area.value.length;
    const before = area.value.slice(0, at);
    const tag = `${before && !before.endsWith("\n") ? "\n" : ""}${button.dataset.tag}\n`;
    area.setRangeText(tag, at, area.selectionEnd ?? at, "end");
    area.focus();
  });
}

// ---------- the result ----------

async function showResult(job, { play = false } = {}) {
  state.job = job;
  const section = $("#result");
  section.hidden = false;
  $("#result-prompt").textContent = job.prompt;
  player.src = audioUrl(job.audio_url);
  player.dataset.taskId = job.task_id;
  const downloads = $("#downloads");
  downloads.replaceChildren(document.createTextNode("Download: "));
  for (const format of ["wav", "mp3", "flac"]) {
    const link = document.createElement("a");
    link.href = audioUrl(job.audio_url, format);
    link.download = `${job.task_id}.${format}`;
    link.textContent = format.toUpperCase();
    link.className = "button";
    downloads.append(link, " ");
  }
  const params = $("#params");
  const rows = [
    ["Model", job.model],
    ["Seed", job.seed],
    ["Duration", `${job.duration.toFixed(2)} s`],
    ...Object.entries(job.params || {}).filter(
      ([k, v]) => !["prompt", "seed", "model", "duration"].includes(k) && v !== null,
    ),
  ];
  params.replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = typeof v === "object" ? JSON.stringify(v) : String(v);
      return [dt, dd];
    }),
  );
  if (play) player.play().catch(() => {});
  const regions = planResult.show(job); // a plan's sections: labelled on the waveform
  $("#result-regions").replaceChildren(...regions.map((r) => Object.assign(
    document.createElement("li"),
    { textContent: `${r.name}: ${r.start.toFixed(1)}–${r.end.toFixed(1)} s` },
  )));
  edits.show(job, visual);
  visual.setSelection(null);
  try {
    visual.setBuffer(await fetchAndDecode(audioUrl(job.audio_url)));
    visual.setRegions(regions);
  } catch (exc) {
    showError(form, null, `The waveform could not be drawn: ${exc.message}`);
  }
}

// A job deleted from the history: its result is no longer shown.
function forget(job) {
  if (!state.job || state.job.task_id !== job.task_id) return;
  state.job = null;
  player.pause();
  player.removeAttribute("src");
  delete player.dataset.taskId;
  player.load();
  $("#result").hidden = true;
}

function reuse(job) {
  const params = job.params || {};
  $("#prompt").value = job.prompt;
  if (state.models.some((m) => m.id === job.model)) $("#model").value = job.model;
  applyCapabilities();
  $("#seed").value = job.seed ?? "";
  for (const [name, value] of Object.entries(params)) {
    const input = form.querySelector(`[name="${controlFor(name)}"]`);
    if (input && input.type !== "file" && value !== null && typeof value !== "object") {
      input.value = String(value);
    }
  }
  selectTab($("#tab-generate"));
  $("#prompt").focus();
}

$("#reuse").addEventListener("click", () => state.job && reuse(state.job));
player.addEventListener("play", () => {
  // the finished piece takes over from what is left of the streamed chunks
  if (state.streamPlayer) state.streamPlayer.stop();
  state.streamPlayer = null;
});
for (const radio of document.querySelectorAll('input[name="view"]')) {
  radio.addEventListener("change", () => visual.setMode(radio.value));
}

// ---------- tabs ----------

const tabs = [...document.querySelectorAll('[role="tab"]')];

function selectTab(tab) {
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
    $(`#${t.getAttribute("aria-controls")}`).hidden = !selected;
  }
}

for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (event) => {
    const i = tabs.indexOf(tab);
    const moves = { ArrowRight: 1, ArrowLeft: -1 };
    if (event.key in moves) {
      const next = tabs[(i + moves[event.key] + tabs.length) % tabs.length];
      selectTab(next);
      next.focus();
      event.preventDefault();
    }
  });
}

// ---------- start ----------

for (const [i, name] of KEYS.entries()) {
  const select = $("#key");
  select.append(new Option(`${name} major`, `${name} major`));
  if (i === KEYS.length - 1) {
    for (const minor of KEYS) select.append(new Option(`${minor} minor`, `${minor} minor`));
  }
}

requestFields().then((fields) => {
  state.fields = fields;
  applyCapabilities();
});
setSignedIn(false);
const saved = getKey();
if (saved) signIn(saved, { quiet: true });
else $("#api-key").focus();
