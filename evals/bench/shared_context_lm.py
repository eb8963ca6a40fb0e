"""lm-eval's Hugging Face model, with each shared context run through the model once.

Multiple-choice benchmarks ask for the log-likelihood of every answer choice after the same
context (ARC: 4–5 choices, HellaSwag: 4, TruthfulQA-MC2: about 8 after a long six-shot prompt,
MMLU: the letters A–D). lm-eval's `HFLM` runs context + choice through the model for each choice
(one question at a time, by default) and takes a log-softmax over the whole vocabulary at every
position. Here:

- contexts that share a prefix (a task's instructions, a few-shot primer) form a family whose
  prefix runs once;
- the rest of each context runs in batches of similar length, right-padded: padding after a
  context's last token is out of reach of causal attention, so it changes none of its logits;
- each context's key/value cache then serves all of its choices, run in batches too, with the
  padding masked out; only the positions that score a choice go through the output layer.

The same arithmetic on the same tokens, so the same scores, for less work and larger matrix
products (which a CPU runs nearer its peak). Everything else (requests, tokenization, truncation
from the left, tasks and metrics) is lm-eval's: only `_loglikelihood_tokens` is replaced.
"""
from __future__ import annotations

import copy
import inspect

from lm_eval.models.huggingface import HFLM
from tqdm import tqdm

TOKENS_PER_BATCH = 768  # padded tokens per forward pass (lm-eval's batch_size is not used)
CACHE_TOKENS_PER_BATCH = 4096  # cached tokens a forward pass holds (about 190 MB for SmolLM2-135M)


class SharedContextLM(HFLM):
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        import torch

        # the same window as HFLM: context + continuation, truncated from the left to max_length + 1
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (_, context, continuation) in enumerate(requests):
            window = (context + continuation)[-(self.max_length + 1):]
            groups.setdefault(tuple(window[: len(window) - len(continuation)]), []).append(i)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        progress = tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0,
                        desc="Running loglikelihood requests")
        with torch.inference_mode():
            for prefix, contexts in _families(list(groups)):
                prefix_cache = None
                if prefix:
                    prefix_cache = self.model(torch.tensor([contexts[0][:prefix]], device=self.device),
                                              use_cache=True, logits_to_keep=1).past_key_values
                contexts.sort(key=lambda c: (len(c), c))
                for batch in _batches_by_tokens(contexts, size=lambda c, prefix=prefix: len(c) - prefix, cached=len):
                    keep_cache = any(len(requests[i][2]) > 1 for c in batch for i in groups[c])
                    cache, firsts = self._run_contexts(batch, prefix, prefix_cache, keep_cache)
                    rows = sorted(((b, i) for b, context in enumerate(batch) for i in groups[context]),
                                  key=lambda row: len(requests[row[1]][2]))
                    cached = cache.get_seq_length() if keep_cache else 0
                    for part in _batches_by_tokens(rows, size=lambda row: len(requests[row[1]][2]) - 1,
                                                   cached=lambda row, cached=cached: cached):
                        scores = self._score_choices(cache, firsts, batch, part, [requests[i][2] for _, i in part])
                        for (_, i), score in zip(part, scores):
                            results[i] = score
                            if requests[i][0] is not None:
                                self.cache_hook.add_partial("loglikelihood", requests[i][0], score)
                        progress.update(len(part))
        progress.close()
        return results

    def _run_contexts(self, batch: list[tuple[int, ...]], prefix: int, prefix_cache, keep_cache: bool):
        """Each context's rest after the shared prefix, right-padded to the longest (the last):
        the cache (when choices need it) and the log-probabilities after each context's last token."""
        import torch

        width = len(batch[-1]) - prefix
        ids = torch.tensor([list(c[prefix:]) + [c[-1]] * (width - len(c) + prefix) for c in batch], device=self.device)
        last = torch.tensor([[len(c) - prefix - 1] for c in batch], device=self.device)
        past = {}
        if prefix_cache is not None:
            past = {self._cache_key: copy.deepcopy(prefix_cache)}
            past[self._cache_key].batch_repeat_interleave(len(batch))
        out = self.model(ids, logits_to_keep=last, use_cache=keep_cache or bool(past), **past)
        return out.past_key_values if keep_cache else None, torch.log_softmax(out.logits[:, 0].float(), dim=-1)

    def _score_choices(self, cache, firsts, batch, part: list[tuple[int, int]], continuations: list[list[int]]):
        """(log-likelihood, greedy) of each (context row, request) in part: a choice's first token is
        scored from its context's last position, the rest after the context's cache (padding masked)."""
        import torch

        logprobs = [firsts[b].unsqueeze(0) for b, _ in part]
        longest = max(len(c) for c in continuations)
        if longest > 1:
            rows = [b for b, _ in part]
            cached = cache.get_seq_length()
            rest = torch.tensor([c[:-1] + [c[0]] * (longest - len(c)) for c in continuations], device=self.device)
            mask = torch.tensor([[1] * len(batch[b]) + [0] * (cached - len(batch[b])) + [1] * (longest - 1)
                                 for b in rows], device=self.device)
            positions = torch.tensor([list(range(len(batch[b]), len(batch[b]) + longest - 1)) for b in rows],
                                     device=self.device)
            logits = self.model(rest, attention_mask=mask, position_ids=positions, use_cache=True,
                                **{self._cache_key: _select_rows(cache, rows)}).logits
            logprobs = [torch.cat([first, torch.log_softmax(logits[k, : len(c) - 1].float(), dim=-1)])
                        for k, (first, c) in enumerate(zip(logprobs, continuations))]
        out = []
        for c, lp in zip(continuations, logprobs):
            tokens = torch.tensor(c, device=self.device)
            out.append((float(lp.gather(1, tokens.unsqueeze(1)).sum()), bool((lp.argmax(dim=-1) == tokens).all())))
        return out

    @property
    def _cache_key(self) -> str:
        """transformers 5 renamed the forward argument past_key_values to cache."""
        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"


def _select_rows(cache, rows: list[int]):
    """A cache of the given batch rows (repeated as listed); the original stays as it is."""
    import torch

    selected = copy.copy(cache)
    selected.layers = [copy.copy(layer) for layer in cache.layers]  # selecting replaces each layer's tensors
    selected.batch_select_indices(torch.tensor(rows, device=cache.layers[0].keys.device))
    return selected


def _families(contexts: list[tuple[int, ...]], min_shared: int = 8) -> list[tuple[int, list]]:
    """Contexts split into families that share a prefix of at least min_shared tokens (a task's
    instructions), each with the length of the prefix all its members share; the prefix leaves
    at least one token of every member to run."""
    families: list[list] = []  # [length of the shared prefix, members]
    for context in sorted(contexts):  # in sorted order, a family's prefix is the least of neighbours' prefixes
        if families:
            family = families[-1]
            shared = _common_prefix(family[1][-1], context, limit=min(family[0], len(context) - 1))
            if shared >= min_shared:
                family[0] = shared
                family[1].append(context)
                continue
        families.append([len(context) - 1, [context]])
    return [(prefix if len(members) > 1 else 0, members) for prefix, members in families]


def _batches_by_tokens(items: list, size, cached, budget: int = TOKENS_PER_BATCH,
                       cache_budget: int = CACHE_TOKENS_PER_BATCH):
    """Consecutive runs of items sorted by size (the tokens each runs): a run pads to its last
    item, so it runs at most budget tokens, and its rows cache at most cache_budget tokens."""
    batch: list = []
    for item in items:
        n = len(batch) + 1
        if batch and (n * size(item) > budget or n * cached(item) > cache_budget):
            yield batch
            batch = []
        batch.append(item)
    if batch:
        yield batch


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...], limit: int) -> int:
    n = 0
    for x, y in zip(a[:limit], b[:limit]):
        if x != y:
            break
        n += 1
    return n
