"""The adapters' settings moved out of the core's ``Settings`` and kept their environment
variables (deployments set ``MUSIC_GEN_KEY_CREDITS`` … as before); bad values are refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from music_gen.service.adapters import leap, modelslab, segmind
from music_gen.service.app import default_adapters
from music_gen.service.core.infra.settings import Settings

ENV = {
    "MUSIC_GEN_KEY_CREDITS": "12.5",
    "MUSIC_GEN_CREDITS_PER_SECOND": "2",
    "MUSIC_GEN_SYNC_TIMEOUT_SECONDS": "90",
    "MUSIC_GEN_SYNC_WAIT_SECONDS": "0.5",
    "MUSIC_GEN_LEAP_MELODY_MODEL": "facebook/musicgen-melody",
}


def test_the_same_environment_variables_reach_each_adapter(monkeypatch, tmp_path):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    adapters = {a.name: a for a in default_adapters()}
    assert set(adapters) == {"leap", "segmind", "modelslab", "aimlapi"}
    sg = adapters["segmind"].settings
    assert isinstance(sg, segmind.SegmindSettings)
    assert (sg.key_credits, sg.credits_per_second, sg.sync_timeout_seconds) == (12.5, 2.0, 90.0)
    ml = adapters["modelslab"].settings
    assert isinstance(ml, modelslab.ModelsLabSettings) and ml.sync_wait_seconds == 0.5
    lp = adapters["leap"].settings
    assert isinstance(lp, leap.LeapSettings)
    assert lp.leap_melody_model == "facebook/musicgen-melody"
    core = Settings(data_dir=tmp_path)
    assert not any(hasattr(core, n.removeprefix("MUSIC_GEN_").lower()) for n in ENV)


def test_bad_values_are_refused(monkeypatch):
    monkeypatch.setenv("MUSIC_GEN_KEY_CREDITS", "-1")
    with pytest.raises(ValidationError, match="key_credits"):
        segmind.SegmindSettings()
