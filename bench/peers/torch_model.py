"""One forward of a SmolLM2-135M-shaped Llama decoder in plain PyTorch (float32, eager), timed.

The timing peer of bench/model.bench.ts, which runs
`python3 bench/peers/torch_model.py --seq-len T --layers N --threads 1,2 --reps R` and reads the
last stdout line. Shape: vocab 49152, hidden 576, intermediate 1536, 9 heads / 3 kv heads of dim
64 (GQA), RMSNorm eps 1e-5, RoPE theta 100000 (rotate_half), SDPA is_causal, SwiGLU MLP, tied LM
head, no biases. Weights are random (seeded, normal * 0.02) and numerics are not compared with the
project's model: this is a timing peer only. For each thread count: one warm-up forward, then the
best of --reps forwards (batch 1). Progress goes to stderr; stdout gets one JSON line.
"""
import argparse
import json
import resource
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch_model.py: torch is not installed (pip install torch)", file=sys.stderr)
    sys.exit(3)

VOCAB, HIDDEN, INTER, HEADS, KV_HEADS, HEAD_DIM = 49152, 576, 1536, 9, 3, 64
EPS, THETA = 1e-5, 100000.0


def rms_norm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * w


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def make_weights(layers, gen):
    def rand(*shape):
        return torch.randn(*shape, generator=gen) * 0.02

    blocks = [dict(
        ln1=torch.ones(HIDDEN), ln2=torch.ones(HIDDEN),
        q=rand(HEADS * HEAD_DIM, HIDDEN), k=rand(KV_HEADS * HEAD_DIM, HIDDEN),
        v=rand(KV_HEADS * HEAD_DIM, HIDDEN), o=rand(HIDDEN, HEADS * HEAD_DIM),
        gate=rand(INTER, HIDDEN), up=rand(INTER, HIDDEN), down=rand(HIDDEN, INTER),
    ) for _ in range(layers)]
    return dict(embed=rand(VOCAB, HIDDEN), norm=torch.ones(HIDDEN), blocks=blocks)


def rope_tables(T):
    inv_freq = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))
    freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)  # [T, HEAD_DIM]
    return emb.cos(), emb.sin()


def forward(W, ids, cos, sin):
    T = ids.shape[0]
    h = W["embed"][ids]  # [T, HIDDEN]
    for b in W["blocks"]:
        x = rms_norm(h, b["ln1"])
        q = F.linear(x, b["q"]).view(T, HEADS, HEAD_DIM).transpose(0, 1)
        k = F.linear(x, b["k"]).view(T, KV_HEADS, HEAD_DIM).transpose(0, 1)
        v = F.linear(x, b["v"]).view(T, KV_HEADS, HEAD_DIM).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = HEADS // KV_HEADS  # each kv head serves `group` consecutive query heads
        k = k.repeat_interleave(group, dim=0)
        v = v.repeat_interleave(group, dim=0)
        a = F.scaled_dot_product_attention(q.unsqueeze(0), k.unsqueeze(0), v.unsqueeze(0), is_causal=True)
        h = h + F.linear(a[0].transpose(0, 1).reshape(T, HEADS * HEAD_DIM), b["o"])
        x = rms_norm(h, b["ln2"])
        h = h + F.linear(F.silu(F.linear(x, b["gate"])) * F.linear(x, b["up"]), b["down"])
    return rms_norm(h, W["norm"]) @ W["embed"].t()  # [T, VOCAB]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--threads", default="1,2")
    p.add_argument("--reps", type=int, default=3)
    a = p.parse_args()
    T, threads = a.seq_len, [int(n) for n in a.threads.split(",") if n.strip()]

    W = make_weights(a.layers, torch.Generator().manual_seed(0))
    ids = torch.randint(0, VOCAB, (T,), generator=torch.Generator().manual_seed(1))
    cos, sin = rope_tables(T)
    results = []
    with torch.inference_mode():
        for n in threads:
            torch.set_num_threads(n)
            forward(W, ids, cos, sin)  # warm-up
            runs = []
            for _ in range(a.reps):
                t = time.perf_counter()
                forward(W, ids, cos, sin)
                runs.append((time.perf_counter() - t) * 1e3)
            print(f"torch_model.py: T={T} layers={a.layers} threads={n}: best {min(runs):.1f} ms "
                  f"of {[round(r, 1) for r in runs]}", file=sys.stderr)
            results.append({"threads": n, "best_ms": min(runs), "runs_ms": runs})
    print(json.dumps({
        "torch": torch.__version__, "seq_len": T, "layers": a.layers, "results": results,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == "__main__":
    main()
