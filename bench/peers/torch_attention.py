"""The attention problems of bench/kernels.bench.ts in PyTorch, timed in the same run.

Reads a JSON spec {D, problems: [{L, lengths}]}; for each problem (1 head, float32, anchor
layout: token 0 is the anchor, then the documents) times SDPA with is_causal, SDPA with the
dense anchor mask, and flex_attention (compiled) with causal and anchor block masks.
Prints one JSON line with the medians in ms. Single-threaded, like the fixtures.
"""
import json
import sys
import time

import torch

torch.set_num_threads(1)


def median_ms(fn, reps=3):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t) * 1e3)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    spec = json.load(open(sys.argv[1]))
    D = spec["D"]
    rows = []
    for p in spec["problems"]:
        L = p["L"]
        doc = torch.zeros(L, dtype=torch.int32)
        t = 1
        for i, n in enumerate(p["lengths"]):
            doc[t : t + n] = i + 1
            t += n
        g = torch.Generator().manual_seed(L)
        q, k, v = (torch.randn(1, 1, L, D, generator=g) for _ in range(3))
        idx = torch.arange(L)
        causal = idx[None, :] <= idx[:, None]
        dense = causal & ((doc[:, None] == doc[None, :]) | (doc[None, :] == 0))
        sdpa = torch.nn.functional.scaled_dot_product_attention
        row = {
            "L": L,
            "torch": torch.__version__,
            "sdpa_full_ms": median_ms(lambda: sdpa(q, k, v, is_causal=True)),
            "sdpa_mask_ms": median_ms(lambda: sdpa(q, k, v, attn_mask=dense)),
            "flex_full_ms": None,
            "flex_mask_ms": None,
        }
        try:
            from torch.nn.attention.flex_attention import create_block_mask, flex_attention

            flex = torch.compile(flex_attention)

            def causal_mod(b, h, qi, ki):
                return ki <= qi

            def anchor_mod(b, h, qi, ki):
                return (ki <= qi) & ((doc[qi] == doc[ki]) | (doc[ki] == 0))

            bm_full = create_block_mask(causal_mod, 1, 1, L, L, device="cpu")
            bm_anchor = create_block_mask(anchor_mod, 1, 1, L, L, device="cpu")
            row["flex_full_ms"] = median_ms(lambda: flex(q, k, v, block_mask=bm_full))
            row["flex_mask_ms"] = median_ms(lambda: flex(q, k, v, block_mask=bm_anchor))
        except Exception as e:  # flex needs a C++ compiler for torch.compile on CPU
            row["flex_error"] = type(e).__name__
        rows.append(row)
        print(f"L={L} done", file=sys.stderr)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
