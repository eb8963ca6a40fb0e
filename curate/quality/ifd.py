"""Quality scores without a judge, from the base model's losses (Cherry LLM's instruction-following
difficulty) and the text itself:

- ifd: the answer's mean token loss given the question ÷ its loss without the question. Near 1:
  the question barely helps predict the answer (the pair teaches little, or question and answer
  do not belong together; above 1 they contradict); low: the answer follows from the question.
- perplexity: exp(the answer's loss given the question) — how surprising the answer is.
- lengths in words of question and answer, beside them in `detail`.

`QualityScorer` is a pure batch step (an Arrow table in, one out), so either engine runs it
(curate.engine); `score_pairs` reads the store before and writes pair_scores after.
"""
from __future__ import annotations

import json
import math

import pyarrow as pa

from curate.lm.losses import IGNORE_INDEX, mean_losses_per_row
from curate.lm.templates import render_example
from curate.pairs.status import active
from curate.quality.scores import prompt_hash, record_scores, scored_keys
from curate.store import Store

MAX_TOKENS = 512     # question and answer are cut to this many tokens each
BATCH = 8


class QualityScorer:
    """Per row (prompt, answer): the answer's mean token loss with the prompt and without it."""

    def __init__(self, model: str, device: str | None = None, precision: str | None = None, batch_size: int = BATCH):
        from curate.lm.device import resolve
        from curate.lm.load import load_causal_lm

        self.model, self.tokenizer, _ = load_causal_lm(model, placement=resolve(device, precision))
        self.batch_size = batch_size

    def _losses(self, rows: list[tuple[list[int], list[int]]]) -> list[float]:
        """Mean loss over the answer tokens of each (context ids, answer ids), batched, right-padded."""
        import torch

        out = []
        for start in range(0, len(rows), self.batch_size):
            chunk = rows[start:start + self.batch_size]
            width = max(len(c) + len(a) for c, a in chunk)
            ids = torch.full((len(chunk), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            labels = torch.full((len(chunk), width), IGNORE_INDEX, dtype=torch.long)
            for i, (context, answer) in enumerate(chunk):
                row = context + answer
                ids[i, :len(row)] = torch.tensor(row)
                mask[i, :len(row)] = 1
                labels[i, len(context):len(row)] = torch.tensor(answer)
            device = self.model.device
            out += mean_losses_per_row(self.model, ids.to(device), mask.to(device), labels.to(device))
        return out

    def __call__(self, batch: pa.Table) -> pa.Table:
        tok = self.tokenizer
        start = [tok.bos_token_id if tok.bos_token_id is not None else tok.eos_token_id]
        prompts = [tok(p, add_special_tokens=False)["input_ids"][-MAX_TOKENS:] for p in batch.column("prompt").to_pylist()]
        answers = [tok(a, add_special_tokens=False)["input_ids"][:MAX_TOKENS] or start
                   for a in batch.column("answer").to_pylist()]
        given = self._losses(list(zip(prompts, answers)))
        alone = self._losses([(start, a) for a in answers])
        return pa.table({"loss_given_question": pa.array(given, pa.float64()),
                         "loss_alone": pa.array(alone, pa.float64()),
                         "answer_tokens": pa.array([len(a) for a in answers], pa.int64())})


def score_pairs(store: Store, model: str | None = None, *, template: str = "qa", limit: int | None = None,
                device: str | None = None, precision: str | None = None, engine=None,
                show_progress: bool = False) -> dict:
    """IFD and perplexity of the pairs in play under a base model, stored in pair_scores; pairs
    already scored by this model and template are skipped."""
    from curate.engine import LOCAL, progress_of
    from curate.lm.load import load_tokenizer, local_model_dir

    engine = engine or LOCAL
    tokenizer, resolved = load_tokenizer(model, store)
    name = resolved.describe()
    pairs = store.rows(f"SELECT id, instruction, input, response, context, system FROM pairs p WHERE {active()}"
                       " ORDER BY id LIMIT ?", [limit])
    done = scored_keys(store, "ifd", name)
    todo = []
    for pair in pairs:
        pair["context"] = json.loads(pair["context"]) if pair["context"] else None
        prompt, answer = render_example(template, pair, tokenizer)
        key = prompt_hash({"template": template, "prompt": prompt})
        if (pair["id"], key) not in done:
            todo.append((pair, key, prompt, answer[:-len(tokenizer.eos_token)] if tokenizer.eos_token else answer))
    with store.job("score.quality", {"model": name, "template": template, "pairs": len(todo)}) as job:
        written = 0
        for start in range(0, len(todo), 256):   # stored every 256 pairs: a stopped run resumes there
            chunk = todo[start:start + 256]
            table = pa.table({"prompt": [p for _, _, p, _ in chunk], "answer": [a for _, _, _, a in chunk]})
            with progress_of("score", len(chunk), show_progress, job) as progress:
                found = engine.run(QualityScorer, table, batch_size=64, progress=progress,
                                   step_args=(local_model_dir(resolved), device, precision))
            rows = []
            for (pair, key, _, _), given, alone, n in zip(chunk, found.column("loss_given_question").to_pylist(),
                                                           found.column("loss_alone").to_pylist(),
                                                           found.column("answer_tokens").to_pylist()):
                detail = {"loss_given_question": round(given, 4), "loss_alone": round(alone, 4), "answer_tokens": n,
                          "question_words": len(pair["instruction"].split()),
                          "answer_words": len(pair["response"].split()), "template": template}
                rows.append({"pair_id": pair["id"], "scorer": "ifd", "model": name, "score": given / alone if alone
                             else None, "detail": detail, "prompt_hash": key})
                rows.append({"pair_id": pair["id"], "scorer": "perplexity", "model": name,
                             "score": math.exp(min(given, 50)), "detail": detail, "prompt_hash": key})
            written += record_scores(store, rows) // 2
        job.result = {"scored": written, "cached": len(pairs) - len(todo), "model": name,
                      **store.one("SELECT round(median(score), 4) AS median_ifd, count(*) FILTER (WHERE score >= 1)"
                                  " AS ifd_at_least_1 FROM pair_scores WHERE scorer = 'ifd' AND model = ?", [name])}
    return job.result
