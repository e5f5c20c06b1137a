"""Generation latency while a fine-tuning job trains on the same server: idle, beside a
training run that yields to generation (the service's policy), and beside one that does not.

A real server (uvicorn on loopback, SQLite, no auth) with a random MusicGen checkpoint of the
test architecture at ``--hidden`` width; a finetune job of many steps on two composer clips;
``--jobs`` generations of ``--duration`` s submitted one after another (``POST /generate``,
polled to the end). Reports each mode's latencies, the training steps done meanwhile and the
seconds the training yielded (``paused_s``).

    python benchmarks/bench_finetune_beside_generation.py --hidden 256 --duration 4 --jobs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256, help="decoder width of the model")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per generation")
    parser.add_argument("--jobs", type=int, default=5, help="generations per mode")
    args = parser.parse_args()

    import httpx
    import uvicorn

    from music_gen import MusicGenerator
    from music_gen.service.app import create_app
    from music_gen.service.core.infra.settings import Settings
    from music_gen.testing.musicgen import make_checkpoint

    tmp = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    checkpoint = make_checkpoint(tmp / "model", hidden_size=args.hidden)
    files: list[tuple[str, Any]] = []
    composer = MusicGenerator("composer")
    for i, prompt in enumerate(("funk groove with slap bass", "rock band")):
        data = composer.generate(prompt, duration=4.0, seed=i).to_bytes("wav")
        files += [("files", (f"c{i}.wav", data)), ("files", (f"c{i}.txt", prompt.encode()))]
    port = 18765
    settings = Settings(host="127.0.0.1", port=port, data_dir=tmp / "data", model=str(checkpoint),
                        device="cpu", auth=False, rate_limit="100000/minute",
                        max_duration=60.0)  # fmt: skip
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.1)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=120)
    trainer = app.state.service.trainer

    def generate(seed: int) -> float:
        started = time.perf_counter()
        body = {"prompt": "calm piano", "duration": args.duration, "seed": seed}
        task = client.post("/generate", json=body).json()["task_id"]
        while client.get(f"/generate/{task}").json()["status"] not in ("succeeded", "failed"):
            time.sleep(0.02)
        return time.perf_counter() - started

    generate(0)  # load the model
    print(f"load average {os.getloadavg()[0]:.1f}; hidden {args.hidden}, "
          f"{args.duration} s per generation, {args.jobs} jobs per mode")  # fmt: skip
    print("| mode | latency median s | min | max | training steps meanwhile | training yielded s |")
    print("|---|---|---|---|---|---|")
    for mode in ("idle", "training yields", "training does not yield"):
        task, gate = None, trainer.gate
        if mode != "idle":
            form = {"name": f"bench-{mode.replace(' ', '-')}", "steps": "20000", "rank": "8",
                    "lr": "0.0001", "window_seconds": "2.0", "batch_size": "2"}  # fmt: skip
            answer = client.post("/finetunes", data=form, files=files).json()
            task = answer["task_id"]
            while client.get(f"/finetunes/{task}").json()["step"] < 2:
                time.sleep(0.1)
            if mode == "training does not yield":
                trainer.gate = None
        before = client.get(f"/finetunes/{task}").json() if task else {}
        times = [generate(seed) for seed in range(1, args.jobs + 1)]
        after = client.get(f"/finetunes/{task}").json() if task else {}
        trainer.gate = gate
        steps = after.get("step", 0) - before.get("step", 0)
        paused = after.get("paused_s", 0.0) - before.get("paused_s", 0.0)
        row = [mode, *(f"{v:.2f}" for v in (statistics.median(times), min(times), max(times)))]
        row += [str(steps), f"{paused:.1f}"] if task else ["-", "-"]
        print("| " + " | ".join(row) + " |")
        if task:
            client.delete(f"/finetunes/{task}")
            while trainer.runs:
                time.sleep(0.1)
    print(f"load average {os.getloadavg()[0]:.1f}")
    server.should_exit = True


if __name__ == "__main__":
    main()
