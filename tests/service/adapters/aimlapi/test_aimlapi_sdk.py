"""AI/ML API: its SDK has no music call; its generic polling rule (keep polling while the
top-level ``status`` is a pending word) is applied to the README's own music-01 example, on
the composer, the default model of a machine with no weights."""

from __future__ import annotations

import httpx
from adapter_helpers import PENDING, loop
from service_helpers import start_server, wait_until

from music_gen import load_audio


def test_aimlapi_readme_example_on_the_composer(tmp_path):
    server = start_server(tmp_path, model="composer")
    try:
        base, key = server.settings.base_url, server.key("aiml-composer")
        headers = {"Authorization": f"Bearer {key}"}
        ids = httpx.post(f"{base}/v2/generate/audio/minimax/upload", headers=headers, timeout=60,
                         files={"file": ("loop.wav", loop(12.0, 96, 220.0))},
                         data={"purpose": "instrumental"}).json()  # fmt: skip
        gen = httpx.post(f"{base}/v2/generate/audio/minimax/generate", headers=headers, json={
            "model": "music-01", "lyrics": "##\n\n##", "refer_instrumental": ids["instrumental_id"],
            "audio_setting": {"sample_rate": 44100, "bitrate": 256000, "format": "mp3"},
            "duration": 6}).json()  # fmt: skip
        assert gen["base_resp"]["status_code"] == 0, gen
        seen: list[str] = []

        def polled() -> dict | None:  # aimlapi's poll_job: poll while the top status is pending
            out = httpx.get(f"{base}/v2/generate/audio/minimax/generate", headers=headers,
                            params={"generation_id": gen["generation_id"]}).json()  # fmt: skip
            seen.append(out["status"])
            return None if out["status"].lower() in PENDING else out

        result = wait_until(polled, 120, "the generation to end", interval=0.2)
        assert result["status"] == "completed" and result["data"]["status"] == 2
        decoded = load_audio(bytes.fromhex(result["data"]["audio"]))
        assert decoded.sample_rate == 44100 and abs(decoded.duration - 6) < 0.1
        job = server.client(key).get(f"/generate/{gen['generation_id']}").json()
        assert "in A minor, 96 bpm" in job["prompt"]  # the reference's tempo and key, measured
        plan = job["metadata"]["plan"]  # what the composer made: the reference's tempo and key
        assert (plan["tempo"], plan["key"], plan["mode"]) == (96.0, "A", "minor")
    finally:
        server.stop()
