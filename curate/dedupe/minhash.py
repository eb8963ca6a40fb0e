"""Near-duplicate detection with MinHash + LSH, as a chain of named stages over a batch of texts.

    shingle (normalize bytes, hash every character 5-gram, in numpy)
    → sign (MinHash signatures: rensa's Rho sketch, a densified one-permutation MinHash)
    → band (LSH: texts sharing all rows of a band are candidates)
    → verify (true Jaccard of the shingle sets, merged row by row in compiled code)
    → cluster (connected components of the verified pairs)

Pure functions: texts in, clusters out; the store is read before and written after (curate.dedupe).
Texts are processed in batches so memory stays bounded (about 200 bytes a text between stages),
and every stage is timed.
"""
from __future__ import annotations

import string
import time
from dataclasses import dataclass, field

import numpy as np

# Bytes → normalized bytes: ASCII letters lower-cased, ASCII punctuation and white space → space.
_LUT = np.arange(256, dtype=np.uint8)
_LUT[ord("A"):ord("Z") + 1] += 32
for _c in string.punctuation + string.whitespace:
    _LUT[ord(_c)] = ord(" ")
_SPACE = np.uint8(ord(" "))
_MULT = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class MinHashConfig:
    threshold: float = 0.7   # Jaccard of 5-gram sets from which two texts are near-duplicates
    num_perm: int = 128      # signature length: estimates within ~±0.04 around 0.7
    ngram: int = 5           # bytes a shingle; 5 keeps a single typo from hiding a short duplicate
    bands: int | None = None  # LSH bands (× rows = num_perm); None: balance misses and false hits
    seed: int = 1
    batch_size: int = 4096   # texts a batch: a few MB of arrays, reused between batches


@dataclass
class NearDuplicates:
    labels: np.ndarray                 # cluster label per text (-1: no near-duplicate)
    edges: np.ndarray                  # verified pairs (i, j), i < j
    similarity: np.ndarray             # their true Jaccard
    candidates: int = 0                # pairs LSH proposed before verification
    timings: dict = field(default_factory=dict)

    def clusters(self) -> list[list[int]]:
        groups: dict[int, list[int]] = {}
        for i in np.flatnonzero(self.labels >= 0):
            groups.setdefault(int(self.labels[i]), []).append(int(i))
        return [g for g in groups.values() if len(g) > 1]


def normalize_text(text: str) -> str:
    """The text as the shingles see it: ASCII lower case, punctuation and runs of white space
    as one space (a readable twin of the byte-level normalization)."""
    raw = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return _squeeze(_LUT[raw]).tobytes().decode("utf-8", "replace").strip()


def _squeeze(buf: np.ndarray) -> np.ndarray:
    is_space = buf == _SPACE
    keep = ~(is_space & np.concatenate([[True], is_space[:-1]]))
    return buf[keep]


def shingle(texts: list[str], ngram: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Hashed byte n-grams of the normalized texts: (flat uint64 hashes, row offsets).
    A text shorter than n bytes is one shingle of itself. All texts of a batch in one pass."""
    if not 1 <= ngram <= 7:
        raise ValueError("shingles of 1 to 7 bytes are supported")
    joined = b"\0".join(b" " + t.replace("\0", " ").encode("utf-8", "surrogatepass") + b" " for t in texts)
    buf = _squeeze(_LUT[np.frombuffer(joined, dtype=np.uint8)])
    ends = np.append(np.flatnonzero(buf == 0), buf.size)          # one NUL between texts
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts
    padded = np.zeros((buf.size // 8 + 2) * 8, dtype=np.uint8)
    padded[:buf.size] = buf
    # every window of 8 bytes read as one little-endian integer; its low n bytes are the n-gram
    windows = np.lib.stride_tricks.as_strided(padded.view(np.uint64)[:1], shape=(buf.size,), strides=(1,))
    valid = np.ones(buf.size, dtype=bool)
    tails = (ends[:, None] - np.arange(1, ngram)[None, :]).ravel()   # windows running past a text's end
    valid[tails[tails >= 0]] = False
    valid[ends[:-1]] = False                                          # the separators themselves
    valid[starts[starts < buf.size]] = True                           # a short text keeps its first window
    hashes = windows[valid] & np.uint64((1 << (8 * ngram)) - 1)
    counts = np.maximum(lengths - ngram + 1, 1)
    offsets = np.zeros(len(texts) + 1, dtype=np.uint64)
    np.cumsum(counts, out=offsets[1:])
    short = np.flatnonzero(lengths < ngram)
    if short.size:  # keep only the short text's own bytes of its one window
        hashes[offsets[short].astype(np.int64)] &= (np.uint64(1) << (np.uint64(8) * lengths[short].astype(np.uint64))) \
            - np.uint64(1)
    hashes *= _MULT                     # spread the n-gram's bits (Fibonacci hashing) …
    hashes ^= hashes >> np.uint64(29)   # … and fold the high bits down
    return hashes, offsets


def sign(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures (texts × num_perm, uint32) from rensa's Rho sketch in one call."""
    from rensa import RMinHash

    matrix = RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, num_perm, seed)
    return np.asarray(matrix.to_rows(), dtype=np.uint32).reshape(len(offsets) - 1, num_perm)


def optimal_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows) minimizing missed pairs above the threshold plus false hits below it under
    the LSH S-curve 1 - (1 - s^r)^b, weighted equally."""
    xs_low, xs_high = np.linspace(0.0, threshold, 200), np.linspace(threshold, 1.0, 200)
    best, best_cost = (1, num_perm), float("inf")
    for b in (b for b in range(1, num_perm + 1) if num_perm % b == 0):
        r = num_perm // b
        cost = np.trapezoid(1 - (1 - xs_low ** r) ** b, xs_low) + np.trapezoid((1 - xs_high ** r) ** b, xs_high)
        if cost < best_cost:
            best, best_cost = (b, r), cost
    return best


def band_keys(signatures: np.ndarray, bands: int, rows: int, seed: int) -> np.ndarray:
    """One 64-bit key per (text, band): equal keys mean equal band rows (or a rare collision,
    which verification removes)."""
    multipliers = np.random.default_rng(seed).integers(1, 2**63, size=rows, dtype=np.uint64) | np.uint64(1)
    keys = np.empty((signatures.shape[0], bands), dtype=np.uint64)
    for b in range(bands):
        block = signatures[:, b * rows:(b + 1) * rows].astype(np.uint64)
        keys[:, b] = (block * multipliers).sum(axis=1, dtype=np.uint64) ^ np.uint64(b)
    return keys


def band(keys: np.ndarray) -> np.ndarray:
    """Candidate pairs from band keys. Within a bucket each member is paired with the bucket's
    first member (a star), which keeps big buckets linear and their clusters the same."""
    n = keys.shape[0]
    found = []
    for b in range(keys.shape[1]):
        order = np.argsort(keys[:, b], kind="stable")
        sorted_keys = keys[order, b]
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        same = np.concatenate([[False], same])
        run_start = np.maximum.accumulate(np.where(same, 0, np.arange(n)))
        members = np.flatnonzero(same)
        found.append(np.stack([order[run_start[members]], order[members]], axis=1))
    if not found:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(found), axis=1).astype(np.int64)
    unique = np.unique(pairs[:, 0] * n + pairs[:, 1])
    return np.stack([unique // n, unique % n], axis=1)


def verify(candidates: np.ndarray, texts: list[str], threshold: float, ngram: int = 5,
           chunk: int = 8_192) -> tuple[np.ndarray, np.ndarray]:
    """Keep the candidate pairs whose true Jaccard similarity of shingle sets reaches the
    threshold. Shingles are recomputed for the texts involved, a chunk of pairs at a time."""
    from curate.dedupe.jaccard import jaccard_pairs

    if len(candidates) == 0:
        return candidates, np.empty(0)
    kept_pairs, kept_sims = [], []
    for start in range(0, len(candidates), chunk):
        part = candidates[start:start + chunk]
        docs, local = np.unique(part, return_inverse=True)
        local = local.reshape(part.shape)
        hashes, offsets = shingle([texts[i] for i in docs], ngram)
        # the top 32 bits are plenty to tell apart the few hundred shingles of two texts
        sims = jaccard_pairs((hashes >> np.uint64(32)).astype(np.uint32), offsets, local[:, 0], local[:, 1])
        keep = sims >= threshold
        kept_pairs.append(part[keep])
        kept_sims.append(sims[keep])
    return np.concatenate(kept_pairs), np.concatenate(kept_sims)


def cluster(n: int, edges: np.ndarray) -> np.ndarray:
    """Connected components of the verified pairs; -1 for texts without any."""
    labels = np.full(n, -1, dtype=np.int64)
    if len(edges) == 0:
        return labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, components = connected_components(graph, directed=False)
    touched = np.zeros(n, dtype=bool)
    touched[edges.ravel()] = True
    labels[touched] = components[touched]
    return labels


@dataclass
class MinHashKeys:
    """The batch-parallel stages (shingle → sign → band keys) over one batch of texts: a pure
    function from an Arrow table with a `text` column to one with each text's LSH band keys, so
    the local engine and Ray (curate.engine) run the same code. Stage times add up in `timings`
    (in this process; on Ray they stay with the workers)."""
    ngram: int
    bands: int
    rows: int
    seed: int
    timings: dict = field(default_factory=dict)

    def __call__(self, batch):
        import pyarrow as pa

        texts = batch.column("text").to_pylist()
        if not texts:
            return pa.table({"keys": pa.array([], pa.list_(pa.uint64(), self.bands))})
        hashes, offsets = self._timed("shingle", shingle, texts, self.ngram)
        signatures = self._timed("sign", sign, hashes, offsets, self.bands * self.rows, self.seed)
        keys = self._timed("band", band_keys, signatures, self.bands, self.rows, self.seed)
        return pa.table({"keys": pa.FixedSizeListArray.from_arrays(pa.array(keys.ravel(), pa.uint64()), self.bands)})

    def _timed(self, name, fn, *args):
        started = time.perf_counter()
        out = fn(*args)
        self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - started
        return out


def near_duplicates(texts: list[str], config: MinHashConfig = MinHashConfig(), *, engine=None,
                    progress=None) -> NearDuplicates:
    """The whole chain over a list of texts. The per-batch stages run on `engine` (a
    curate.engine.Engine: this process by default, or Ray); banding, verification and clustering
    need every text's keys and run here."""
    import pyarrow as pa

    from curate.engine import LOCAL

    bands, rows = (config.bands, config.num_perm // config.bands) if config.bands else \
        optimal_bands(config.threshold, config.num_perm)
    step = MinHashKeys(config.ngram, bands, rows, config.seed)
    started = time.perf_counter()
    engine = engine or LOCAL
    found = engine.run(step, pa.table({"text": pa.array(texts, pa.string())}), batch_size=config.batch_size,
                       progress=progress)
    keys = found.column("keys").combine_chunks().flatten().to_numpy().reshape(len(texts), bands)
    timings = dict(step.timings) if engine.name == "local" else {"keys on ray": time.perf_counter() - started}
    del found

    def timed(name, fn, *args):
        began = time.perf_counter()
        out = fn(*args)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - began
        return out

    candidates = timed("band", band, keys)
    del keys
    edges, sims = timed("verify", verify, candidates, texts, config.threshold, config.ngram)
    labels = timed("cluster", cluster, len(texts), edges)
    return NearDuplicates(labels, edges, sims, len(candidates), timings)
