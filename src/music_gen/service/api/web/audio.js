// Audio in the browser: decoding (Web Audio decodeAudioData), the waveform and spectrogram
// views on a <canvas> (click or arrow keys to seek), stream playback of WAV chunks as they
// arrive, and a stem player with mute/solo. Knows nothing about the API or the page's forms.

let sharedContext = null;

// One AudioContext for the page; created or resumed from a user gesture.
export function audioContext() {
  if (!sharedContext) sharedContext = new AudioContext();
  if (sharedContext.state === "suspended") sharedContext.resume();
  return sharedContext;
}

let decoder = null;

// Decoding needs no user gesture: an OfflineAudioContext does it (at the file's own rate).
export function decode(bytes) {
  if (!decoder) decoder = new OfflineAudioContext(1, 1, 44100);
  return decoder.decodeAudioData(bytes);
}

export async function fetchAndDecode(url, signal) {
  const response = await fetch(url, { signal });
  if (!response.ok) throw new Error(`audio download failed (HTTP ${response.status})`);
  return decode(await response.arrayBuffer());
}

export function base64ToArrayBuffer(data) {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

function mono(buffer) {
  const out = new Float32Array(buffer.length);
  for (let c = 0; c < buffer.numberOfChannels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < data.length; i++) out[i] += data[i] / buffer.numberOfChannels;
  }
  return out;
}

function cssColor(element, name, fallback) {
  const value = getComputedStyle(element).getPropertyValue(name).trim();
  return value || fallback;
}

// In-place radix-2 FFT of (re, im), length a power of two.
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const angle = (-2 * Math.PI) / size;
    const wr = Math.cos(angle);
    const wi = Math.sin(angle);
    for (let start = 0; start < n; start += size) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < size / 2; k++) {
        const a = start + k;
        const b = a + size / 2;
        const tr = re[b] * cr - im[b] * ci;
        const ti = re[b] * ci + im[b] * cr;
        re[b] = re[a] - tr;
        im[b] = im[a] - ti;
        re[a] += tr;
        im[a] += ti;
        const next = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = next;
      }
    }
  }
}

// Short-time Fourier transform: magnitudes in dB, one Float32Array (size/2 bins) per frame.
export function stft(samples, size = 1024, frames = 400) {
  const hop = Math.max(1, Math.floor((samples.length - size) / Math.max(1, frames - 1)));
  const window = new Float32Array(size);
  for (let i = 0; i < size; i++) window[i] = 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (size - 1));
  const out = [];
  const re = new Float32Array(size);
  const im = new Float32Array(size);
  for (let start = 0; start + size <= samples.length && out.length < frames; start += hop) {
    for (let i = 0; i < size; i++) {
      re[i] = samples[start + i] * window[i];
      im[i] = 0;
    }
    fft(re, im);
    const mags = new Float32Array(size / 2);
    for (let k = 0; k < size / 2; k++) {
      mags[k] = 10 * Math.log10(re[k] * re[k] + im[k] * im[k] + 1e-12);
    }
    out.push(mags);
  }
  return out;
}

// dB → colour (dark blue → magenta → yellow), t in [0, 1].
function heat(t) {
  const r = Math.round(255 * Math.min(1, Math.max(0, 1.8 * t)));
  const g = Math.round(255 * Math.min(1, Math.max(0, 2 * t - 1)));
  const b = Math.round(255 * Math.min(1, Math.max(0, t < 0.5 ? 0.3 + t : 1.6 - 1.6 * t)));
  return [r, g, b];
}

// The result's picture: waveform or spectrogram of a decoded buffer, with the playhead of
// an <audio> element; clicking (or arrow keys on the focused canvas) seeks it. Labelled
// regions (a plan's sections) are drawn over it; dragging across it selects a range
// (onselect({start, end}) in seconds).
export class Visualizer {
  constructor(canvas, audio) {
    this.canvas = canvas;
    this.audio = audio;
    this.buffer = null;
    this.samples = null;
    this.mode = "waveform";
    this.background = null;
    this.frame = 0;
    this.regions = [];
    this.selection = null;
    this.onselect = null;
    this.drag = null;
    canvas.addEventListener("pointerdown", (event) => this.press(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.release(event));
    canvas.addEventListener("click", (event) => {
      if (this.dragged) this.dragged = false;
      else this.seekTo(event);
    });
    canvas.addEventListener("keydown", (event) => this.key(event));
    for (const name of ["timeupdate", "seeked", "loadedmetadata"]) {
      audio.addEventListener(name, () => this.drawPlayhead());
    }
    audio.addEventListener("play", () => this.animate());
    new ResizeObserver(() => this.render()).observe(canvas);
    matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => this.render());
  }

  setBuffer(buffer) {
    this.buffer = buffer;
    this.samples = buffer ? mono(buffer) : null;
    this.spectrum = null;
    this.canvas.setAttribute("aria-valuemax", buffer ? buffer.duration.toFixed(2) : "0");
    this.render();
  }

  setMode(mode) {
    this.mode = mode;
    this.render();
  }

  // Labelled spans [{name, start, end}] in seconds (a plan's sections); [] for none.
  setRegions(regions) {
    this.regions = regions || [];
    this.canvas.dataset.regions = this.regions.map((r) => r.name).join("|");
    this.render();
  }

  // The selected range {start, end} in seconds, or null.
  setSelection(selection) {
    this.selection = selection;
    this.drawPlayhead();
  }

  timeAt(event) {
    const rect = this.canvas.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    return fraction * this.duration();
  }

  press(event) {
    if (!this.duration() || event.button !== 0) return;
    this.drag = { x: event.clientX, from: this.timeAt(event) };
  }

  move(event) {
    if (!this.drag || !(event.buttons & 1)) return;
    if (Math.abs(event.clientX - this.drag.x) < 5) return;
    const t = this.timeAt(event);
    this.selection = { start: Math.min(t, this.drag.from), end: Math.max(t, this.drag.from) };
    this.dragged = true;
    this.drawPlayhead();
  }

  release() {
    if (this.drag && this.dragged && this.selection && this.onselect) this.onselect(this.selection);
    this.drag = null;
  }

  paintRegions(ctx, width, height) {
    const duration = this.duration();
    if (!duration || !this.regions.length) return;
    const ratio = window.devicePixelRatio || 1;
    ctx.font = `${Math.round(12 * ratio)}px system-ui, sans-serif`;
    ctx.textBaseline = "top";
    for (const [i, region] of this.regions.entries()) {
      const x0 = (region.start / duration) * width;
      const x1 = (region.end / duration) * width;
      ctx.fillStyle = i % 2 ? "rgba(128, 128, 160, 0.16)" : "rgba(128, 128, 160, 0.04)";
      ctx.fillRect(x0, 0, x1 - x0, height);
      ctx.fillStyle = cssColor(this.canvas, "--muted", "#888");
      ctx.fillRect(Math.round(x0), 0, 1, height);
      ctx.fillStyle = cssColor(this.canvas, "--text", "#222");
      ctx.fillText(region.name, x0 + 4 * ratio, 4 * ratio, Math.max(0, x1 - x0 - 8 * ratio));
    }
  }

  render() {
    const canvas = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const off = document.createElement("canvas");
    off.width = width;
    off.height = height;
    const ctx = off.getContext("2d");
    ctx.fillStyle = cssColor(canvas, "--canvas-bg", "#111");
    ctx.fillRect(0, 0, width, height);
    if (this.samples) {
      if (this.mode === "spectrogram") this.paintSpectrogram(ctx, width, height);
      else this.paintWaveform(ctx, width, height);
      this.paintRegions(ctx, width, height);
    }
    this.background = off;
    this.drawPlayhead();
  }

  paintWaveform(ctx, width, height) {
    const samples = this.samples;
    const per = samples.length / width;
    const middle = height / 2;
    let peak = 0;
    for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
    const scale = (middle * 0.95) / (peak || 1);
    ctx.fillStyle = cssColor(this.canvas, "--wave", "#4cc9f0");
    for (let x = 0; x < width; x++) {
      let lo = 0;
      let hi = 0;
      const end = Math.min(samples.length, Math.floor((x + 1) * per));
      for (let i = Math.floor(x * per); i < end; i++) {
        if (samples[i] < lo) lo = samples[i];
        if (samples[i] > hi) hi = samples[i];
      }
      ctx.fillRect(x, middle - hi * scale, 1, Math.max(1, (hi - lo) * scale));
    }
  }

  paintSpectrogram(ctx, width, height) {
    if (!this.spectrum) this.spectrum = stft(this.samples, 1024, Math.min(600, width));
    const frames = this.spectrum;
    if (!frames.length) return;
    const bins = frames[0].length;
    let max = -Infinity;
    for (const f of frames) for (const v of f) if (v > max) max = v;
    const floor = max - 80;
    const image = ctx.createImageData(width, height);
    for (let x = 0; x < width; x++) {
      const f = frames[Math.min(frames.length - 1, Math.floor((x / width) * frames.length))];
      for (let y = 0; y < height; y++) {
        // logarithmic frequency axis: low notes get room
        const fraction = 1 - y / height;
        const bin = Math.min(bins - 1, Math.floor(Math.pow(bins, fraction)));
        const [r, g, b] = heat(Math.pow(Math.max(0, (f[bin] - floor) / 80), 1.7));
        const i = 4 * (y * width + x);
        image.data[i] = r;
        image.data[i + 1] = g;
        image.data[i + 2] = b;
        image.data[i + 3] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
  }

  drawPlayhead() {
    const canvas = this.canvas;
    const ctx = canvas.getContext("2d");
    if (this.background) ctx.drawImage(this.background, 0, 0);
    const duration = this.duration();
    const time = this.audio.currentTime || 0;
    this.canvas.setAttribute("aria-valuenow", time.toFixed(2));
    this.canvas.setAttribute("aria-valuetext", `${time.toFixed(1)} of ${duration.toFixed(1)} s`);
    if (!duration) return;
    if (this.selection) {
      const a = (this.selection.start / duration) * canvas.width;
      const b = (this.selection.end / duration) * canvas.width;
      ctx.fillStyle = "rgba(245, 158, 11, 0.3)";
      ctx.fillRect(a, 0, Math.max(1, b - a), canvas.height);
    }
    const x = Math.round((time / duration) * canvas.width);
    ctx.fillStyle = cssColor(canvas, "--playhead", "#f72585");
    ctx.fillRect(Math.min(x, canvas.width - 2), 0, 2, canvas.height);
  }

  animate() {
    cancelAnimationFrame(this.frame);
    const tick = () => {
      this.drawPlayhead();
      if (!this.audio.paused) this.frame = requestAnimationFrame(tick);
    };
    this.frame = requestAnimationFrame(tick);
  }

  duration() {
    const d = this.audio.duration;
    if (Number.isFinite(d) && d > 0) return d;
    return this.buffer ? this.buffer.duration : 0;
  }

  seekTo(event) {
    const duration = this.duration();
    if (!duration) return;
    const rect = this.canvas.getBoundingClientRect();
    const fraction = Math.min(1, Math.max(0, (event.clientX - rect.left) / rect.width));
    this.audio.currentTime = fraction * duration;
    this.drawPlayhead();
  }

  key(event) {
    const duration = this.duration();
    if (!duration) return;
    const step = Math.max(0.5, duration / 20);
    const moves = {
      ArrowLeft: -step,
      ArrowDown: -step,
      ArrowRight: step,
      ArrowUp: step,
      Home: -Infinity,
      End: Infinity,
    };
    if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      if (this.audio.paused) this.audio.play();
      else this.audio.pause();
      return;
    }
    if (!(event.key in moves)) return;
    event.preventDefault();
    const t = (this.audio.currentTime || 0) + moves[event.key];
    this.audio.currentTime = Math.min(duration, Math.max(0, t));
    this.drawPlayhead();
  }
}

// Plays base64 WAV chunks back to back as they arrive (Web Audio), starting with the first.
export class StreamPlayer {
  constructor({ muted = false } = {}) {
    this.ctx = audioContext();
    this.gain = this.ctx.createGain();
    this.gain.gain.value = muted ? 0 : 1;
    this.gain.connect(this.ctx.destination);
    this.next = 0;
    this.sources = [];
    this.received = 0;
    this.started = false;
    this.queue = Promise.resolve();
    this.onstart = null;
  }

  add(chunk) {
    this.received += 1;
    const receivedBefore = this.received;
    // decode in order: chunks are scheduled one after the other
    this.queue = this.queue.then(async () => {
      const buffer = await this.ctx.decodeAudioData(base64ToArrayBuffer(chunk.data));
      if (this.stopped) return;
      const source = this.ctx.createBufferSource();
      source.buffer = buffer;
      source.connect(this.gain);
      const at = Math.max(this.next, this.ctx.currentTime + 0.05);
      source.start(at);
      this.next = at + buffer.duration;
      this.sources.push(source);
      if (!this.started) {
        this.started = true;
        if (this.onstart) {
          this.onstart({ chunksReceived: receivedBefore, contextState: this.ctx.state });
        }
      }
    });
    return this.queue;
  }

  stop() {
    this.stopped = true;
    for (const source of this.sources) {
      try {
        source.stop();
      } catch {
        // not started yet
      }
    }
    this.sources = [];
  }
}

// The stems of one multi-instrument result, played together with mute and solo per stem.
export class StemPlayer {
  constructor() {
    this.stems = new Map(); // name → {buffer, gain}
    this.muted = new Set();
    this.soloed = new Set();
    this.sources = [];
  }

  async load(stems) {
    this.stop();
    this.stems.clear();
    this.muted.clear();
    this.soloed.clear();
    const entries = await Promise.all(
      Object.entries(stems).map(async ([name, url]) => [name, await fetchAndDecode(url)]),
    );
    this.ctx = audioContext();
    for (const [name, buffer] of entries) {
      const gain = this.ctx.createGain();
      gain.connect(this.ctx.destination);
      this.stems.set(name, { buffer, gain });
    }
    this.update();
    return this.stems;
  }

  audible(name) {
    return this.soloed.size ? this.soloed.has(name) : !this.muted.has(name);
  }

  toggle(set, name) {
    if (set.has(name)) set.delete(name);
    else set.add(name);
    this.update();
  }

  update() {
    if (!this.ctx) return;
    for (const [name, stem] of this.stems) {
      stem.gain.gain.setTargetAtTime(this.audible(name) ? 1 : 0, this.ctx.currentTime, 0.01);
    }
  }

  play() {
    this.stop();
    if (!this.ctx) return;
    audioContext(); // resumed from the click
    const at = this.ctx.currentTime + 0.1;
    for (const stem of this.stems.values()) {
      const source = this.ctx.createBufferSource();
      source.buffer = stem.buffer;
      source.connect(stem.gain);
      source.start(at);
      this.sources.push(source);
    }
  }

  stop() {
    for (const source of this.sources) {
      try {
        source.stop();
      } catch {
        // already stopped
      }
    }
    this.sources = [];
  }
}
