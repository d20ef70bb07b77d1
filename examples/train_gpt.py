"""A small GPT trained from command-line flags, in the style of nanoGPT's train.py: the training
script hpsearch runs as a trial in its tests and README.

    python examples/train_gpt.py --learning_rate=1e-3 --max_iters=40

It trains a byte-level GPT (vocabulary 256) on a text file (`--data`), by default on the source of
Python's standard library, split 90/10 into train and validation: nothing is downloaded. Every
`eval_interval` steps and at the last it prints nanoGPT's line,
`step {iter}: train loss {train:.4f}, val loss {val:.4f}`, for hpsearch to read. With `--out_dir`,
it writes `{"value": val_loss, "step": last_step}` to `{out_dir}/result.json` at the end.

Alone it trains with AdamW and nanoGPT's schedule (linear warm-up, cosine decay to `min_lr`). Run
by hpsearch with a configuration (`HPSEARCH_CONFIG` set), it builds the optimizer and schedule the
trial drew instead: the two lines marked `# hpsearch: every optimizer of the search`.
"""

import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
from torch.nn import functional as F


def boolean(text):
    if text.lower() in ("true", "1", "yes"):
        return True
    if text.lower() in ("false", "0", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {text!r}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, kind, default in (
        ("learning_rate", float, 6e-4), ("weight_decay", float, 1e-1), ("beta1", float, 0.9),
        ("beta2", float, 0.95), ("grad_clip", float, 1.0), ("max_iters", int, 100),
        ("eval_interval", int, 20), ("eval_iters", int, 4), ("log_interval", int, 10),
        ("warmup_iters", int, 10), ("lr_decay_iters", int, None), ("min_lr", float, 6e-5),
        ("decay_lr", boolean, True), ("batch_size", int, 8), ("block_size", int, 32),
        ("n_layer", int, 2), ("n_head", int, 2), ("n_embd", int, 32), ("seed", int, 1337),
        ("device", str, "cpu"), ("out_dir", str, None), ("data", str, None),
    ):
        p.add_argument(f"--{name}", type=kind, default=default, help=f"default: {default}")
    args = p.parse_args(argv)
    if args.lr_decay_iters is None:
        args.lr_decay_iters = args.max_iters
    return args


def load_bytes(path, limit=400_000):
    """The training text as bytes: the file given, else the standard library's .py files, sorted."""
    if path:
        with open(path, "rb") as f:
            return f.read()
    folder, chunks, size = os.path.dirname(os.__file__), [], 0
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py") and size < limit:
            with open(os.path.join(folder, name), "rb") as f:
                chunks.append(f.read())
            size += len(chunks[-1])
    return b"".join(chunks)[:limit]


class CausalSelfAttention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.c_attn = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd, bias=False), nn.LayerNorm(n_embd, bias=False)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd, bias=False), nn.GELU(),
                                 nn.Linear(4 * n_embd, n_embd, bias=False))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
        self.h = nn.ModuleList(Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd, bias=False)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # weight tying, as GPT-2
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets):
        pos = torch.arange(idx.size(1), device=idx.device)
        x = self.wte(idx) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def get_lr(it, a):
    """nanoGPT's schedule: linear warm-up, then cosine decay down to min_lr at lr_decay_iters."""
    if it < a.warmup_iters:
        return a.learning_rate * (it + 1) / (a.warmup_iters + 1)
    if it > a.lr_decay_iters:
        return a.min_lr
    ratio = (it - a.warmup_iters) / max(1, a.lr_decay_iters - a.warmup_iters)
    return a.min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (a.learning_rate - a.min_lr)


def main(argv=None):
    a = parse_args(argv)
    torch.manual_seed(a.seed)
    data = torch.frombuffer(bytearray(load_bytes(a.data)), dtype=torch.uint8).long()
    n = int(0.9 * len(data))
    splits = {"train": data[:n], "val": data[n:]}

    def get_batch(split, generator=None):
        d = splits[split]
        ix = torch.randint(len(d) - a.block_size - 1, (a.batch_size,), generator=generator)
        x = torch.stack([d[i:i + a.block_size] for i in ix])
        y = torch.stack([d[i + 1:i + 1 + a.block_size] for i in ix])
        return x.to(a.device), y.to(a.device)

    fixed = torch.Generator().manual_seed(0)  # the same evaluation batches at every evaluation
    eval_batches = {s: [get_batch(s, fixed) for _ in range(a.eval_iters)] for s in splits}
    model = GPT(256, a.block_size, a.n_layer, a.n_head, a.n_embd).to(a.device)

    own, train_eval_modes, clip, scheduler = True, False, a.grad_clip or None, None
    if os.environ.get("HPSEARCH_CONFIG"):
        import hpsearch

        with open(os.environ["HPSEARCH_CONFIG"]) as f:
            config = json.load(f)
        # hpsearch: every optimizer of the search
        optimizer = hpsearch.build_optimizer(config, model)
        scheduler = hpsearch.build_scheduler(config, optimizer, total_steps=a.max_iters)
        clip = config.get("clip_grad_norm")
        train_eval_modes = hpsearch.OPTIMIZERS[config["optimizer"]].train_eval_modes
        own = False
    else:  # nanoGPT's AdamW: weight decay on the 2-D weights only
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        optimizer = torch.optim.AdamW(groups, lr=a.learning_rate, betas=(a.beta1, a.beta2))

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        if train_eval_modes:
            optimizer.eval()  # schedule-free: evaluate at the averaged weights
        out = {s: torch.stack([model(x, y) for x, y in eval_batches[s]]).mean().item() for s in splits}
        model.train()
        if train_eval_modes:
            optimizer.train()
        return out

    if train_eval_modes:
        optimizer.train()
    losses = {}
    for iter_num in range(a.max_iters + 1):
        if iter_num % a.eval_interval == 0 or iter_num == a.max_iters:
            losses = estimate_loss()
            print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        if iter_num == a.max_iters:
            break
        if own:
            for group in optimizer.param_groups:
                group["lr"] = get_lr(iter_num, a) if a.decay_lr else a.learning_rate
        t0 = time.time()
        x, y = get_batch("train")

        def closure(x=x, y=y):  # every torch optimizer takes one; L-BFGS calls it several times
            optimizer.zero_grad(set_to_none=True)
            loss = model(x, y)
            loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            return loss

        loss = optimizer.step(closure)
        if scheduler is not None:
            scheduler.step()
        if a.log_interval and iter_num % a.log_interval == 0:
            print(f"iter {iter_num}: loss {loss.item():.4f}, time {(time.time() - t0) * 1000:.2f}ms")
    if a.out_dir:
        os.makedirs(a.out_dir, exist_ok=True)
        with open(os.path.join(a.out_dir, "result.json"), "w") as f:
            json.dump({"value": losses["val"], "step": a.max_iters}, f)


if __name__ == "__main__":
    main()
