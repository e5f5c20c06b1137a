"""Continuous batching: many requests decoded together, joining and leaving at step boundaries.

Each request (its own prompt, duration, sampling parameters, guidance, seed, melody or
continuation) owns a *slot* of two rows of the fast decoder's static KV cache (conditional and
null condition). A request joins by prefilling its slot on its own (exactly as it would alone);
from then on every ``step()`` runs one batched forward over all slots, each row at its own
position, and each request picks its next tokens with its own sampler and generator. A request
that finishes a window re-prefills its slot with the next window's context; one that finishes
its last window leaves, its codes are decoded to audio, and its slot takes the next queued
request. So each output is the one ``MusicGenerator.generate`` gives alone with the same seed
(up to float rounding of batched matmuls, which the tests show does not change tokens).

It takes requests already validated and prepared (``PreparedRequest``, built by the MusicGen
family's ``prepare``) and shares the condition, window plan, audio and metadata of a request
with the one-request path through ``Runtime``.

What it does not do: schedule by priority or fairness (first come, first served), or persist
anything — the service's job queue feeds it and owns durability.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import dataclass

import torch

from ..audio import AudioOutput
from .fast_decoder import FastStepDecoder
from .kv_cache import KVCache
from .lora import RowAdapters
from .patterns import UNKNOWN
from .runtime import PreparedRequest, Runtime
from .sampling import SamplingParams, apply_cfg, select_next

__all__ = ["ContinuousBatcher"]


@dataclass
class _Active:
    request_id: str
    prepared: PreparedRequest
    slot: int
    windows: list[tuple[int, int, int]]
    steps: int
    generator: torch.Generator
    sampling: SamplingParams
    guided: bool
    window: int = 0
    codes: torch.Tensor | None = None  # final codes [1, K, n]
    grid: torch.Tensor | None = None  # current window's grid [1, K, L]
    pos: int = 0  # next grid position to fill
    offset: int = 0  # decoder position of grid column 0 (after a melody prefix)
    logits: torch.Tensor | None = None  # [rows, K, V] for grid position ``pos``
    done: int = 0  # tokens chosen so far, over all windows

    @property
    def rows(self) -> slice:
        return slice(2 * self.slot, 2 * self.slot + 2)


class ContinuousBatcher:
    """Feed it requests with ``submit``; ``step()`` advances every active request by one token.

    ``max_requests`` slots decode together; more requests wait in a queue and join as slots
    free up. ``run()`` steps until everything submitted has finished and returns the outputs.
    """

    def __init__(self, runtime: Runtime, max_requests: int = 4) -> None:
        if runtime.engine.decoder is None:
            raise ValueError("continuous batching needs engine='fast'")
        self.runtime = runtime
        self.decoder = runtime.engine.decoder
        self.max_requests = max_requests
        self.queue: deque[tuple[str, PreparedRequest]] = deque()
        self.active: dict[int, _Active] = {}
        self.steps_run = 0
        self._caches: list[KVCache] = []
        self._cross: list[tuple[torch.Tensor, torch.Tensor]] = []
        self._cross_mask: torch.Tensor | None = None  # [R, 1, 1, S]
        self._key_ok: torch.Tensor | None = None  # [R, L]

    # ------------------------------------------------------------------ public
    def submit(self, prepared: PreparedRequest, request_id: str | None = None) -> str:
        """Queue a prepared single-prompt request; returns its id."""
        if len(prepared.texts) != 1:
            raise ValueError("the batcher takes one prompt per request")
        request_id = request_id or uuid.uuid4().hex
        self.queue.append((request_id, prepared))
        return request_id

    @property
    def idle(self) -> bool:
        return not self.queue and not self.active

    def step(self) -> list[tuple[str, AudioOutput]]:
        """Admit queued requests into free slots, then decode one token for each active one."""
        finished: list[tuple[str, AudioOutput]] = []
        self._admit()
        if not self.active:
            return finished
        with torch.no_grad():
            for act in list(self.active.values()):
                self._choose(act)
            moving = []
            for slot, act in list(self.active.items()):
                assert act.grid is not None
                if act.pos < act.grid.shape[-1]:
                    moving.append(act)
                    continue
                if self._next_window(act):
                    continue
                del self.active[slot]
                finished.append((act.request_id, self._finish(act)))
            if moving:
                self._forward(moving)
        self.steps_run += 1
        return finished

    def progress(self, request_id: str) -> float | None:
        """Fraction of the request's decoder steps done; 0 while queued, None when unknown."""
        for act in self.active.values():
            if act.request_id == request_id:
                return min(1.0, act.done / max(1, act.steps))
        if any(rid == request_id for rid, _ in self.queue):
            return 0.0
        return None

    def cancel(self, request_id: str) -> bool:
        """Drop a queued or active request (its slot frees at once); False if unknown."""
        for slot, act in list(self.active.items()):
            if act.request_id == request_id:
                del self.active[slot]
                return True
        for item in list(self.queue):
            if item[0] == request_id:
                self.queue.remove(item)
                return True
        return False

    def drain(self) -> list[tuple[str, PreparedRequest]]:
        """Remove every queued and active request and return them (to resubmit elsewhere)."""
        requests = [(act.request_id, act.prepared) for act in self.active.values()]
        requests += list(self.queue)
        self.active.clear()
        self.queue.clear()
        return requests

    def run(self) -> dict[str, AudioOutput]:
        results: dict[str, AudioOutput] = {}
        while not self.idle:
            results.update(self.step())
        return results

    # ------------------------------------------------------------------ requests in and out
    def _admit(self) -> None:
        free = [s for s in range(self.max_requests) if s not in self.active]
        while self.queue and free:
            request_id, prepared = self.queue.popleft()
            rt, p = self.runtime, prepared.params
            plan = rt.plan(prepared)
            act = _Active(
                request_id,
                prepared,
                free.pop(0),
                plan.windows,
                plan.steps,
                torch.Generator(rt.device).manual_seed(prepared.seeds[0]),
                SamplingParams(p.temperature, p.top_k, p.top_p),
                p.guidance_scale != 1.0,
                codes=prepared.prompt_codes,
            )
            if act.codes is None:
                act.codes = torch.zeros(
                    (1, rt.pattern.num_codebooks, 0), dtype=torch.long, device=rt.device
                )
            self.active[act.slot] = act
            self._prefill(act)

    def _prefill(self, act: _Active) -> None:
        """Start the request's current window: prefill its slot exactly as it would run alone."""
        rt = self.runtime
        start, context, length = act.windows[act.window]
        condition = rt.condition(act.prepared, [0], start, act.guided)
        assert act.codes is not None
        grid = rt.pattern.build(act.codes[:, :, start : start + context], length)
        big, self.decoder.caches = self.decoder.caches, []
        rows = self._row_adapters()
        if rows is not None:  # the request's own adapter on every row of its prefill
            rows.use(act.prepared.adapter)
        try:
            session = FastStepDecoder(self.decoder, rt.loaded.model, condition, grid.shape[-1])
            first = rt.pattern.prefill_length(grid)
            logits = session.prefill(grid[:, :, :first])
        finally:
            if rows is not None:
                rows.use(None)
        own, self.decoder.caches = self.decoder.caches, big
        act.grid, act.pos, act.logits = grid, first, logits
        act.offset = session.pos - first  # the melody prefix's length
        self._install(act, own, session)

    def _next_window(self, act: _Active) -> bool:
        """Fold a finished window into the codes; start the next one if there is one."""
        assert act.grid is not None and act.codes is not None
        start, context, length = act.windows[act.window]
        window = self.runtime.pattern.revert(act.grid, length)
        act.codes = torch.cat([act.codes[:, :, : start + context], window[:, :, context:]], dim=-1)
        act.window += 1
        if act.window == len(act.windows):
            return False
        self._prefill(act)
        return True

    def _finish(self, act: _Active) -> AudioOutput:
        rt, prepared = self.runtime, act.prepared
        assert act.codes is not None
        audio = rt.audio(act.codes, prepared)
        plan = rt.plan(prepared)
        meta = rt.metadata(prepared, plan, {"total_s": time.perf_counter() - prepared.started})
        meta.update(
            prompt=prepared.texts[0],
            seed=prepared.seeds[0],
            request_id=act.request_id,
            batching="continuous",
        )
        if prepared.adapter is not None:  # "<folder>@<scale>"
            folder, _, scale = prepared.adapter.rpartition("@")
            meta["adapter"] = {"adapter": folder, "adapter_scale": float(scale)}
        return AudioOutput(audio[0], rt.loaded.sample_rate, meta)

    # ------------------------------------------------------------------ the batched step
    def _choose(self, act: _Active) -> None:
        """Pick the request's next tokens from its logits into its grid."""
        assert act.grid is not None and act.logits is not None
        logits = act.logits
        if act.guided:
            logits = apply_cfg(logits, act.prepared.params.guidance_scale)
        tokens = select_next(logits, act.sampling, [act.generator])  # [1, K]
        known = act.grid[:, :, act.pos]
        act.grid[:, :, act.pos] = torch.where(known == UNKNOWN, tokens, known)
        act.pos += 1
        act.done += 1

    def _forward(self, moving: list[_Active]) -> None:
        """One forward over every row: each request's last column at its own position."""
        rows = 2 * self.max_requests
        k = self.runtime.pattern.num_codebooks
        device = self.runtime.device
        ids = torch.full(
            (rows, k, 1), self.runtime.pattern.pad_token_id, dtype=torch.long, device=device
        )
        pos = torch.zeros((rows, 1), dtype=torch.long, device=device)
        for act in moving:
            assert act.grid is not None
            ids[act.rows] = act.grid[:, :, act.pos - 1 : act.pos]
            pos[act.rows] = act.offset + act.pos - 1
        assert self._key_ok is not None
        keys = torch.arange(self._caches[0].max_len, device=device)
        mask = (keys[None, :] <= pos) & self._key_ok  # [R, L]
        x = self.decoder.embed(ids)
        big, self.decoder.caches = self.decoder.caches, self._caches
        adapters = self._row_adapters()
        if adapters is not None:  # each slot's rows with its request's adapter
            per_row: list[str | None] = [None] * rows
            for act in self.active.values():
                per_row[act.rows.start] = per_row[act.rows.start + 1] = act.prepared.adapter
            adapters.use_rows(per_row)
        try:
            logits = self.decoder(
                x,
                pos,
                self_mask=mask[:, None, None, :],
                cross_kv=self._cross or None,
                cross_mask=self._cross_mask,
            )[:, :, -1].float()
        finally:
            self.decoder.caches = big
            if adapters is not None:
                adapters.use(None)
        for act in moving:
            act.logits = logits[act.rows] if act.guided else logits[act.rows][:1]

    def _row_adapters(self) -> RowAdapters | None:
        installed = getattr(self.decoder, "row_lora", None)
        return None if installed is None else installed[0]

    def adapters_in_use(self) -> set[str]:
        """The adapters of the requests queued or decoding (not to be evicted)."""
        reqs = [p for _, p in self.queue] + [a.prepared for a in self.active.values()]
        return {p.adapter for p in reqs if p.adapter is not None}

    # ------------------------------------------------------------------ slot buffers
    def _install(self, act: _Active, own: list[KVCache], session: FastStepDecoder) -> None:
        """Copy a prefilled request's caches and condition into its slot's rows."""
        n = session.pos
        need = n + (act.grid.shape[-1] if act.grid is not None else 0)
        self._ensure(need, 0 if session.cross_kv is None else session.cross_kv[0][0].shape[2])
        r = own[0].k.shape[0]  # 2 rows when guided, else 1
        rows = slice(act.rows.start, act.rows.start + r)
        for big, mine in zip(self._caches, own, strict=True):
            big.k[rows, :, :n] = mine.k[:, :, :n]
            big.v[rows, :, :n] = mine.v[:, :, :n]
        assert self._key_ok is not None
        self._key_ok[act.rows] = True
        if session.key_ok is not None:
            self._key_ok[rows, : session.key_ok.shape[1]] = session.key_ok[
                :, : self._key_ok.shape[1]
            ]
        if session.cross_kv is not None:
            s = session.cross_kv[0][0].shape[2]
            for (bk, bv), (k, v) in zip(self._cross, session.cross_kv, strict=True):
                bk[rows, :, :s] = k
                bv[rows, :, :s] = v
            assert self._cross_mask is not None
            self._cross_mask[act.rows] = False
            self._cross_mask[act.rows, :, :, 0] = True  # idle rows attend somewhere
            mask = session.cross_mask
            self._cross_mask[rows, :, :, :s] = True if mask is None else mask

    def _ensure(self, length: int, cross_len: int) -> None:
        """Grow the batched buffers (keeping their contents) to ``length`` / ``cross_len``."""
        rows, cfg = 2 * self.max_requests, self.decoder.config
        weight = next(self.decoder.embed_tokens[0].parameters())
        dtype, device = weight.dtype, weight.device
        cur = self._caches[0].max_len if self._caches else 0
        if length > cur:
            new = [
                KVCache(rows, cfg.num_heads, length, cfg.head_dim, dtype, device)
                for _ in range(cfg.num_layers)
            ]
            for old, fresh in zip(self._caches, new, strict=False):
                fresh.k[:, :, :cur] = old.k
                fresh.v[:, :, :cur] = old.v
            key_ok = torch.ones((rows, length), dtype=torch.bool, device=device)
            if self._key_ok is not None:
                key_ok[:, :cur] = self._key_ok
            self._caches, self._key_ok = new, key_ok
        if not cfg.cross_attention:
            return
        cur_s = self._cross_mask.shape[-1] if self._cross_mask is not None else 0
        if cross_len > cur_s:
            shape = (rows, cfg.num_heads, cross_len, cfg.head_dim)
            cross = []
            for i in range(cfg.num_layers):
                k = torch.zeros(shape, dtype=dtype, device=device)
                v = torch.zeros(shape, dtype=dtype, device=device)
                if self._cross:
                    k[:, :, :cur_s], v[:, :, :cur_s] = self._cross[i]
                cross.append((k, v))
            mask = torch.zeros((rows, 1, 1, cross_len), dtype=torch.bool, device=device)
            mask[..., 0] = True
            if self._cross_mask is not None:
                mask[..., :cur_s] = self._cross_mask
            self._cross, self._cross_mask = cross, mask
