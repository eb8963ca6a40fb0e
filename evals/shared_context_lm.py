"""lm-eval's Hugging Face model, with each shared context run through the model once.

Multiple-choice benchmarks ask for the log-likelihood of every answer choice after the same
context (ARC: 4–5 choices, HellaSwag: 4, TruthfulQA-MC2: about 8 after a long six-shot prompt).
lm-eval's `HFLM` runs context + choice through the model for each choice and takes a log-softmax
over the whole vocabulary at every position. Here the context runs once, its key/value cache is
shared by all of its choices, and only the positions that score a choice go through the output
layer. Contexts are taken in token order, so each shares its longest common prefix with the one
before (a task's instructions, a few-shot primer) and only the rest is run: the same arithmetic
on the same tokens, so the same scores, for less work.

Everything else (requests, tokenization, truncation from the left, tasks and metrics) is lm-eval's:
only `_loglikelihood_tokens` is replaced.
"""
from __future__ import annotations

import copy
import inspect

from lm_eval.models.huggingface import HFLM
from tqdm import tqdm


class SharedContextLM(HFLM):
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        import torch

        # the same window as HFLM: context + continuation, truncated from the left to max_length + 1
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (_, context, continuation) in enumerate(requests):
            window = (context + continuation)[-(self.max_length + 1):]
            groups.setdefault(tuple(window[: len(window) - len(continuation)]), []).append(i)
        chunk = int(override_bs or (self.batch_size if isinstance(self.batch_size, int) else 0) or 16)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        progress = tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0,
                        desc="Running loglikelihood requests")
        cache, cached = None, ()
        with torch.inference_mode():
            for context, members in sorted(groups.items()):
                common = _common_prefix(cached, context, limit=len(context) - 1)  # at least one token runs
                if cache is not None and cache.get_seq_length() > common:
                    cache.crop(common - cache.get_seq_length())  # keep the common prefix
                out = self.model(torch.tensor([context[common:]], device=self.device), use_cache=True,
                                 logits_to_keep=1, **({self._cache_key: cache} if common else {}))
                cache, cached = out.past_key_values, context
                first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)  # scores each choice's first token
                for start in range(0, len(members), chunk):
                    part = members[start:start + chunk]
                    for i, score in zip(part, self._score(cache, first, [requests[i][2] for i in part])):
                        results[i] = score
                        if requests[i][0] is not None:
                            self.cache_hook.add_partial("loglikelihood", requests[i][0], score)
                    progress.update(len(part))
        progress.close()
        return results

    @property
    def _cache_key(self) -> str:
        """transformers 5 renamed the forward argument past_key_values to cache."""
        return "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def _score(self, cache, first, continuations: list[list[int]]) -> list[tuple[float, bool]]:
        """(log-likelihood, greedy) of each continuation after the cached context."""
        import torch

        longest = max(len(c) for c in continuations)
        logprobs = [first.unsqueeze(0)] * len(continuations)
        if longest > 1:  # the rest of each continuation, right-padded: causal attention keeps padding out
            rest = torch.tensor([c[:-1] + [c[0]] * (longest - len(c)) for c in continuations], device=self.device)
            shared = copy.deepcopy(cache)
            shared.batch_repeat_interleave(len(continuations))
            logits = self.model(rest, use_cache=True, **{self._cache_key: shared}).logits
            logprobs = [torch.cat([first.unsqueeze(0), torch.log_softmax(logits[k, : len(c) - 1].float(), dim=-1)])
                        for k, c in enumerate(continuations)]
        out = []
        for c, lp in zip(continuations, logprobs):
            tokens = torch.tensor(c, device=self.device)
            out.append((float(lp.gather(1, tokens.unsqueeze(1)).sum()), bool((lp.argmax(dim=-1) == tokens).all())))
        return out


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...], limit: int) -> int:
    n = 0
    for x, y in zip(a[:limit], b[:limit]):
        if x != y:
            break
        n += 1
    return n
