"""lm-eval's Hugging Face model, with each shared context run through the model once.

Multiple-choice benchmarks ask for the log-likelihood of every answer choice after the same
context (ARC: 4–5 choices, HellaSwag: 4, TruthfulQA-MC2: about 8 after a long six-shot prompt).
lm-eval's `HFLM` runs context + choice through the model for each choice and takes a log-softmax
over the whole vocabulary at every position. Here the context runs once, its key/value cache is
shared by all of its choices, and only the positions that score a choice go through the output
layer. Contexts are taken in token order, so each shares its longest common prefix with the one
before (a task's instructions, a few-shot primer) and only the rest is run: the same arithmetic
on the same tokens, so the same scores, for less work.

Choices of a single token (MMLU's " A" … " D") need only the logits at the context's last
position, and no cache: those contexts run several at a time, grouped by length, which keeps
the matrix products large enough to use both cores well.

Everything else (requests, tokenization, truncation from the left, tasks and metrics) is lm-eval's:
only `_loglikelihood_tokens` is replaced.
"""
from __future__ import annotations

import copy
import inspect

from lm_eval.models.huggingface import HFLM
from tqdm import tqdm


TOKENS_PER_BATCH = 768  # padded tokens per forward pass of single-token-choice contexts


class SharedContextLM(HFLM):
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, override_bs: int | None = None):
        # the same window as HFLM: context + continuation, truncated from the left to max_length + 1
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (_, context, continuation) in enumerate(requests):
            window = (context + continuation)[-(self.max_length + 1):]
            groups.setdefault(tuple(window[: len(window) - len(continuation)]), []).append(i)
        chunk = int(override_bs or (self.batch_size if isinstance(self.batch_size, int) else 0) or 16)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        progress = tqdm(total=len(requests), disable=disable_tqdm or self.rank != 0,
                        desc="Running loglikelihood requests")

        def record(members: list[int], scores) -> None:
            for i, score in zip(members, scores):
                results[i] = score
                if requests[i][0] is not None:
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], score)
            progress.update(len(members))

        single = {c: m for c, m in groups.items() if all(len(requests[i][2]) == 1 for i in m)}
        self._score_single_tokens(single, requests, record)
        self._score_with_shared_cache({c: m for c, m in groups.items() if c not in single}, requests, chunk, record)
        progress.close()
        return results

    def _score_single_tokens(self, groups: dict, requests, record) -> None:
        """Choices of one token each (MMLU's letters): a prefix that contexts share (MMLU's "The
        following are multiple choice questions …") runs once; the rest of each context runs in
        batches of similar length, right-padded, and only its last position goes through the
        output layer."""
        import torch

        with torch.inference_mode():
            for prefix, contexts in _families(list(groups)):
                prefix_cache = None
                if prefix:
                    prefix_cache = self.model(torch.tensor([contexts[0][:prefix]], device=self.device),
                                              use_cache=True, logits_to_keep=1).past_key_values
                for batch in _batches_by_tokens(sorted(contexts, key=lambda c: (len(c), c)), TOKENS_PER_BATCH):
                    shared = {}
                    if prefix_cache is not None:
                        shared = {self._cache_key: copy.deepcopy(prefix_cache)}
                        shared[self._cache_key].batch_repeat_interleave(len(batch))
                    width = len(batch[-1]) - prefix
                    # padding after a context's last token: causal attention keeps it out of that token's logits
                    ids = torch.tensor([list(c[prefix:]) + [c[-1]] * (width - len(c) + prefix) for c in batch],
                                       device=self.device)
                    last = torch.tensor([[len(c) - prefix - 1] for c in batch], device=self.device)
                    logits = self.model(ids, logits_to_keep=last, use_cache=bool(shared), **shared).logits
                    for context, row in zip(batch, torch.log_softmax(logits[:, 0].float(), dim=-1)):
                        members = groups[context]
                        greedy = int(row.argmax())
                        record(members, [(float(row[t]), t == greedy) for t in (requests[i][2][0] for i in members)])

    def _score_with_shared_cache(self, groups: dict, requests, chunk: int, record) -> None:
        """Longer choices: each context runs once (after the prefix it shares with the one before)
        and its key/value cache serves every choice."""
        import torch

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
                    record(part, self._score(cache, first, [requests[i][2] for i in part]))

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


def _batches_by_tokens(contexts: list, budget: int):
    """Consecutive runs of length-sorted contexts whose padded size stays within the budget."""
    batch: list = []
    for context in contexts:
        if batch and len(context) * (len(batch) + 1) > budget:
            yield batch
            batch = []
        batch.append(context)
    if batch:
        yield batch


def _common_prefix(a: tuple[int, ...], b: tuple[int, ...], limit: int) -> int:
    n = 0
    for x, y in zip(a[:limit], b[:limit]):
        if x != y:
            break
        n += 1
    return n
