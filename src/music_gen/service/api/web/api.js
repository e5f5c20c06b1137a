// The public REST and WebSocket API of the server that serves this page (base /api/v1).
// Knows the key (kept in localStorage), the error JSON {"error": {code, message, details}},
// and which form field an error concerns. Knows nothing about the page's layout.

// Relative to the page, so that a proxy may serve the whole app under a path prefix.
const ROOT = new URL(".", document.baseURI);
export const BASE = new URL("api/v1", ROOT).pathname;
const KEY_STORAGE = "music-gen.api-key";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }

  // The form field this error is about: pydantic's location for VALIDATION_ERROR, the
  // library's INVALID_<FIELD> codes otherwise (null: the form as a whole).
  get field() {
    const errors = this.details.errors;
    if (this.code === "VALIDATION_ERROR" && Array.isArray(errors) && errors.length) {
      const loc = errors[0].loc || [];
      const name = loc.filter((p) => typeof p === "string" && p !== "body").pop();
      if (name) return name;
    }
    const byCode = {
      INVALID_PROMPT: "prompt",
      INVALID_DURATION: "duration",
      INVALID_TEMPERATURE: "temperature",
      INVALID_TOP_K: "top_k",
      INVALID_TOP_P: "top_p",
      INVALID_GUIDANCE: "guidance_scale",
      INVALID_SEED: "seed",
      UNKNOWN_MODEL: "model",
      MODEL_NOT_AVAILABLE: "model",
      INVALID_INSTRUMENT: "instruments",
      INVALID_MIX: "mix_preset",
      INVALID_EFFECT: "mix_preset",
      ADAPTER_NOT_FOUND: "adapter",
      ADAPTER_NOT_READY: "adapter",
      ADAPTER_MISMATCH: "adapter",
    };
    if (byCode[this.code]) return byCode[this.code];
    const m = /^INVALID_([A-Z_]+)$/.exec(this.code || "");
    return m ? m[1].toLowerCase() : null;
  }
}

export function getKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function setKey(key) {
  if (key) localStorage.setItem(KEY_STORAGE, key);
  else localStorage.removeItem(KEY_STORAGE);
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  const err = body && body.error;
  if (err && typeof err === "object") {
    return new ApiError(response.status, err.code, err.message, err.details);
  }
  return new ApiError(response.status, `HTTP_${response.status}`, response.statusText);
}

// One call to /api/v1; resolves to the JSON body, rejects with ApiError. `quiet`: a refused
// key is this call's failure only (a background refresh never signs the page out).
export async function api(method, path, body, { key = getKey(), signal, quiet = false } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (exc) {
    if (exc.name === "AbortError") throw exc;
    throw new ApiError(0, "NETWORK_ERROR", "The server could not be reached.");
  }
  if (!response.ok) throw refused(await errorFrom(response), quiet ? "" : key);
  return response.status === 204 ? null : response.json();
}

// A key the server refuses (wrong, revoked): the page hears of it wherever the call was made.
function refused(error, key) {
  if (error.status === 401 && key) {
    document.dispatchEvent(new CustomEvent("music-gen:unauthorized", { detail: error }));
  }
  return error;
}

// POST /uploads (multipart "file"): audio a request names later by its upload_id.
export async function upload(file, { key = getKey() } = {}) {
  const data = new FormData();
  data.append("file", file, file.name);
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  try {
    response = await fetch(`${BASE}/uploads`, { method: "POST", headers, body: data });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "The server could not be reached.");
  }
  if (!response.ok) throw refused(await errorFrom(response), key);
  return response.json();
}

// Audio URLs are absolute, on the server's configured public URL. The page may have been
// opened under another name (localhost for 127.0.0.1, a proxy): the same audio is then read
// from the page's own origin, so that decoding and downloads stay same-origin.
export function audioUrl(url, format) {
  const u = new URL(url, location.href);
  const at = u.pathname.indexOf("/api/v1/audio/");
  const local = at >= 0 && u.origin !== location.origin;
  const out = local ? new URL(BASE + u.pathname.slice(at + 7) + u.search, location.href) : u;
  if (format) out.searchParams.set("format", format);
  return out.toString();
}

export function streamSocket(key = getKey()) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const query = key ? `?api_key=${encodeURIComponent(key)}` : "";
  return new WebSocket(`${scheme}//${location.host}${BASE}/ws/stream${query}`);
}

// The fields POST /generate accepts (from the server's OpenAPI document), so that the page
// sends only what this server understands; null when the document is unavailable.
export async function requestFields(schemaName = "JobCreate") {
  try {
    const response = await fetch(new URL("openapi.json", ROOT));
    if (!response.ok) return null;
    const doc = await response.json();
    const schema = doc.components && doc.components.schemas && doc.components.schemas[schemaName];
    return schema ? new Set(Object.keys(schema.properties || {})) : null;
  } catch {
    return null;
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Poll GET /generate/{id} until the job ends; onUpdate(job) after every read.
export async function waitForJob(taskId, onUpdate, { signal, interval = 400 } = {}) {
  for (;;) {
    const job = await api("GET", `/generate/${encodeURIComponent(taskId)}`, undefined, { signal });
    onUpdate(job);
    if (["succeeded", "failed", "cancelled"].includes(job.status)) return job;
    await sleep(interval);
    if (signal && signal.aborted) throw new DOMException("aborted", "AbortError");
  }
}
