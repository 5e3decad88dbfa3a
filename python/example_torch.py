"""Worked example: a PyTorch rope.apply and attention.forward checked against anchor-oracle, end to end.

    python3 python/example_torch.py                         # gen -> compute -> write_results -> verify, per op
    python3 python/example_torch.py --cases my.jsonl        # your own case file instead of gen
    python3 python/example_torch.py --backend numpy         # the same without torch (what CI runs)
    python3 python/example_torch.py --sidecar --out DIR     # tensors in DIR/results-OP.safetensors
    python3 python/example_torch.py --ops attention.forward --gen-args "--L 16384 --sample-rows 16 --tensors sidecar"

Exit status: 0 when verify passes for every op, 1 otherwise. Cases this implementation does not
support are written as Skip, and a case that raises as Error, so one bad case never stops the run.
"""
from __future__ import annotations

import argparse
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import anchor_oracle as ao  # noqa: E402

try:
    import torch
except ImportError:  # the numpy backend still runs
    torch = None

# ------------------------------------------------------------------ PyTorch
def rot_torch(x, layout):
    """rot(x): half = rotate_half, cat(-x2, x1); interleaved = (-x[2i+1], x[2i]). Negation is exact."""
    if layout == "half":
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((-x2, x1), dim=-1)
    return torch.stack((-x[..., 1::2], x[..., 0::2]), dim=-1).flatten(-2)


def torch_rope_apply(case):
    """y = x*cos + rot(x)*sin; x [H,T,D], cos/sin [T,D]. In bf16 each eager op rounds to bf16, which is
    exactly the oracle's bf16(bf16(x*cos) + bf16(rot(x)*sin)), as transformers runs it in bf16."""
    layout, path = case.args.get("layout", "half"), case.args.get("path")
    x, cos, sin = (ao.to_torch(case.inputs[n]) for n in ("x", "cos", "sin"))
    if path == "paper":  # the paper's text: the rotation in f32, the result rounded to bf16 once
        x = x.float()
        return {"y": (x * cos + rot_torch(x, layout) * sin).to(torch.bfloat16)}
    return {"y": x * cos + rot_torch(x, layout) * sin}


def bf16_matmul(a, b):
    """a bf16 matmul as cuBLAS and torch >= 2 CPU run it: f32 accumulation, one rounding to bf16.
    (torch 1.13's CPU bf16 gemm rounds partial sums to bf16, and verify's 2x rule catches that.)"""
    return torch.matmul(a.float(), b.float()).to(torch.bfloat16)


def allowed_mask(variant, doc_ids, rows, lib):
    """allowed[r, k] for query rows `rows`: causal, plus the variant's document rule (SPEC.md, Attention)."""
    keys = lib.arange(len(doc_ids))
    ok = keys[None, :] <= rows[:, None]
    same = doc_ids[rows][:, None] == doc_ids[None, :]
    if variant in ("intra_doc", "intra_doc_reset"):
        ok = ok & same
    elif variant == "anchor":
        ok = ok & (same | (doc_ids == 0)[None, :])
    elif variant != "full":
        raise KeyError(variant)
    return ok


def torch_attention(case):
    """out [Hq,L,D], lse [Hq,L] (or only the query `rows` when the case has them) on the case's path."""
    prec, variant = case.args["precision"], case.args["variant"]
    if prec not in ("f64", "f32", "bf16_flash", "bf16_eager") or variant not in ("full", "intra_doc", "intra_doc_reset", "anchor"):
        return ao.Skip(f"attention precision {prec} / variant {variant}")
    dt = {"f64": torch.float64, "f32": torch.float32}.get(prec, torch.bfloat16)
    # inputs are first rounded to the path's precision (bf16 via f32, as torch's .to())
    q, k, v = (ao.to_torch(case.inputs[n]).float().to(dt) if dt == torch.bfloat16 else ao.to_torch(case.inputs[n]).to(dt) for n in "qkv")
    Hq, L, D = q.shape
    k, v = (t.repeat_interleave(Hq // t.shape[0], dim=0) for t in (k, v))  # GQA: query head h uses kv head h // (Hq/Hkv)
    ids = torch.from_numpy(case.inputs["doc_ids"].astype(np.int64))
    rows = torch.from_numpy(case.inputs["rows"].astype(np.int64)) if "rows" in case.inputs else torch.arange(L)
    masked = ~allowed_mask(variant, ids, rows, torch)
    scale = case.args.get("scale", 1 / math.sqrt(D))
    q = q[:, rows]  # only the rows asked for: [Hq, R, D] (R = L by default)
    if prec == "bf16_eager":  # transformers' eager_attention_forward in bf16
        # bf16 matmul output, then a bf16 multiply by the scale: the f32 product rounded once (written out
        # because torch 1.13's vectorized bf16 * scalar rounds differently; torch >= 2 does this)
        s = (bf16_matmul(q, k.transpose(1, 2)).float() * scale).to(torch.bfloat16)
        s = s.masked_fill(masked, float("-inf"))
        p = torch.softmax(s, dim=-1, dtype=torch.float32)
        return {"out": bf16_matmul(p.to(torch.bfloat16), v), "lse": torch.logsumexp(s.float(), dim=-1)}
    if prec == "bf16_flash":  # FlashAttention-2's rounding points: f32 logits and sums, bf16 P for P.V
        s = torch.matmul(q.float(), k.float().transpose(1, 2)) * scale
    else:
        s = torch.matmul(q, k.transpose(1, 2)) * scale
    s = s.masked_fill(masked, float("-inf"))
    m = s.amax(dim=-1, keepdim=True)  # the diagonal is always allowed, so m is finite
    e = torch.exp(s - m)
    l = e.sum(dim=-1, keepdim=True)
    if prec == "bf16_flash":
        out = (torch.matmul(e.to(torch.bfloat16).float(), v.float()) / l).to(torch.bfloat16)
    else:
        out = torch.matmul(e, v) / l
    return {"out": out, "lse": (m + torch.log(l)).squeeze(-1)}


# ------------------------------------------------------------------ numpy (no torch needed)
def bf(x):
    """round float32 values to bf16 values (kept as float32)"""
    return ao.bf16_to_f32(ao.f32_to_bf16(x))


def rot_np(x, layout):
    if layout == "half":
        x1, x2 = np.split(x, 2, axis=-1)
        return np.concatenate((-x2, x1), axis=-1)
    return np.stack((-x[..., 1::2], x[..., 0::2]), axis=-1).reshape(x.shape)


def numpy_rope_apply(case):
    layout, path = case.args.get("layout", "half"), case.args.get("path")
    x, cos, sin = (ao.bf16_to_f32(case.inputs[n]) if case.inputs[n].dtype == np.uint16 else case.inputs[n]
                   for n in ("x", "cos", "sin"))
    if path == "paper":
        x = x.astype(np.float32)
        return {"y": ao.f32_to_bf16(x * cos + rot_np(x, layout) * sin)}
    if case.args.get("dtype", "bf16") == "bf16":
        # products of bf16 values are exact in f32 and an f32 sum of two bf16 values rounds innocuously,
        # so f32 arithmetic followed by RNE is the correctly rounded bf16 op
        return {"y": ao.f32_to_bf16(bf(x * cos) + bf(rot_np(x, layout) * sin))}
    return {"y": x * cos + rot_np(x, layout) * sin}


def numpy_attention(case):
    prec, variant = case.args["precision"], case.args["variant"]
    if prec not in ("f64", "f32", "bf16_flash", "bf16_eager"):
        return ao.Skip(f"attention precision {prec}")
    f = np.float64 if prec == "f64" else np.float32
    q, k, v = (ao.bf16_to_f32(case.inputs[n]) if case.inputs[n].dtype == np.uint16 else case.inputs[n] for n in "qkv")
    q, k, v = (bf(t.astype(np.float32)) if prec.startswith("bf16") else t.astype(f) for t in (q, k, v))
    Hq, L, D = q.shape
    k, v = (np.repeat(t, Hq // t.shape[0], axis=0) for t in (k, v))
    ids = case.inputs["doc_ids"].astype(np.int64)
    rows = case.inputs["rows"].astype(np.int64) if "rows" in case.inputs else np.arange(L)
    allowed = allowed_mask(variant, ids, rows, np)
    scale = f(case.args.get("scale", 1 / math.sqrt(D)))
    s = q[:, rows] @ k.transpose(0, 2, 1)
    s = bf(bf(s) * scale) if prec == "bf16_eager" else s * scale
    s = np.where(allowed, s, -np.inf).astype(f)
    m = s.max(axis=-1, keepdims=True)
    with np.errstate(under="ignore"):
        e = np.exp((s - m).astype(np.float64)).astype(f)  # exp in f64, rounded once, like the reference
    l = e.sum(axis=-1, keepdims=True, dtype=f)
    lse = (m + np.log(l).astype(f)).squeeze(-1)
    if prec == "bf16_eager":
        return {"out": ao.f32_to_bf16(bf(e / l) @ v), "lse": lse}
    if prec == "bf16_flash":
        return {"out": ao.f32_to_bf16((bf(e) @ v) / l), "lse": lse}
    return {"out": (e @ v) / l, "lse": lse}


BACKENDS = {
    "torch": {"rope.apply": torch_rope_apply, "attention.forward": torch_attention},
    "numpy": {"rope.apply": numpy_rope_apply, "attention.forward": numpy_attention},
}


# ------------------------------------------------------------------ the run
def compute(cases_path, backend):
    """(id, outputs | Skip | Error) for every case of the file, lazily (one case in memory at a time)"""
    impl = BACKENDS[backend]
    for case in ao.read_cases(cases_path):
        fn = impl.get(case.op)
        if fn is None:
            yield case.id, ao.Skip(f"{case.op} is not implemented by this example")
            continue
        try:
            yield case.id, fn(case)
        except Exception as e:  # an error line names the problem; the other cases still run
            yield case.id, ao.Error("EXCEPTION", f"{type(e).__name__}: {e}")


def default_cli():
    bin_js = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bin", "anchor-oracle.js")
    return f"node {shlex.quote(bin_js)}" if os.path.exists(bin_js) else "npx anchor-oracle"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", help="a case file to check (default: generate cases for --ops)")
    p.add_argument("--ops", default="rope.apply,attention.forward", help="comma-separated ops to generate")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="torch" if torch is not None else "numpy")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--level", type=int, default=1)
    p.add_argument("--gen-args", default="", help='more gen flags, e.g. "--L 8192 --sample-rows 16 --tensors sidecar"')
    p.add_argument("--out", help="folder for the case and result files (default: a temporary folder)")
    p.add_argument("--sidecar", action="store_true", help="write result tensors to a .safetensors sidecar")
    p.add_argument("--cli", default=default_cli(), help="how to run anchor-oracle (default: %(default)s)")
    a = p.parse_args(argv)
    if a.backend == "torch" and torch is None:
        p.error("torch is not importable; use --backend numpy")
    out = a.out or tempfile.mkdtemp(prefix="anchor-oracle-example-")
    os.makedirs(out, exist_ok=True)
    cli = shlex.split(a.cli)
    if a.cases:
        jobs = [(os.path.splitext(os.path.basename(a.cases))[0], a.cases)]
    else:
        jobs = []
        for op in a.ops.split(","):
            path = os.path.join(out, f"cases-{op}.jsonl")
            gen = ["gen", "--op", op, "--seed", str(a.seed), "--level", str(a.level), "--out", path, *shlex.split(a.gen_args)]
            subprocess.run(cli + gen, check=True)
            jobs.append((op, path))
    status = 0
    for name, cases_path in jobs:
        results = os.path.join(out, f"results-{name}.jsonl")
        t0 = time.perf_counter()
        ao.write_results(results, compute(cases_path, a.backend), sidecar=a.sidecar)
        print(f"{name}: computed with {a.backend} in {time.perf_counter() - t0:.2f}s -> {results}", flush=True)
        v = subprocess.run(cli + ["verify", "--cases", cases_path, "--results", results], capture_output=True, text=True)
        print(v.stdout + v.stderr, end="", flush=True)
        status = max(status, 1 if v.returncode else 0)
    print("PASS" if status == 0 else "FAIL")
    return status


if __name__ == "__main__":
    sys.exit(main())
