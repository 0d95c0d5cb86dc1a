#!/usr/bin/env python3
"""The canonical workloads (docs/src/canonical-workloads.md) in PyTorch eager, for benchplan's `command` workload.

benchplan runs this once per cell (see plans/vs-pytorch.toml) and reads its per-iteration
timings from stdout, one JSON object per line (the protocol in the README, "The command
workload"). The model is built from the plan's own declaration, which benchplan passes in
BENCHPLAN_MODEL, so both frameworks run the same shapes by construction.

    python3 pytorch_workloads.py matmul|train|infer

Cell parameters (BENCHPLAN_PARAMS): `device` (cpu, cuda), `dtype` (f32, bf16, f16), and `n`
for matmul, `batch` for train and infer, `seed`.

Eager mode, no torch.compile; f32 is true fp32 (TF32 off), as the canonical workloads ask.
Measured through benchplan's protocol helper (`pip install ./python`; from a checkout it is
found without installing).
"""

import os
import sys

try:
    import benchplan_protocol as bp
except ImportError:
    # Run from a benchplan checkout without `pip install ./python`: the helper is two folders up.
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
    import benchplan_protocol as bp

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    bp.skip(f"PyTorch is not installed for {sys.executable}: {e}")


DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


class Mlp(nn.Module):
    def __init__(self, inputs, hidden, outputs):
        super().__init__()
        sizes = [inputs, *hidden, outputs]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = F.gelu(x)  # exact (erf) GELU, as benchplan's gelu_erf
        return x


class LstmForecaster(nn.Module):
    def __init__(self, features, hidden_size, layers, outputs):
        super().__init__()
        self.lstm = nn.LSTM(features, hidden_size, layers, batch_first=True)
        self.head = nn.Linear(hidden_size, outputs)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out[:, -1, :])


class TransformerForecaster(nn.Module):
    def __init__(self, features, d_model, heads, ff, layers, outputs):
        super().__init__()
        self.embed = nn.Linear(features, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d_model, outputs)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


def build(spec):
    kind = spec["kind"]
    if kind == "mlp":
        return Mlp(spec["inputs"], spec["hidden"], spec["outputs"]), [spec["inputs"]]
    if kind == "lstm":
        model = LstmForecaster(spec["features"], spec["hidden_size"], spec["layers"], spec["outputs"])
        return model, [spec["seq_len"], spec["features"]]
    if kind == "transformer":
        model = TransformerForecaster(
            spec["features"], spec["d_model"], spec["heads"], spec["ff"], spec["layers"], spec["outputs"]
        )
        return model, [spec["seq_len"], spec["features"]]
    raise ValueError(f"unknown model kind {kind!r}")


def device_of(name):
    # `gpu` is benchplan's portable name: whichever accelerator this machine has.
    if name == "gpu":
        name = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "none"
        if name == "none":
            bp.skip("no GPU is available to PyTorch on this machine")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            bp.skip("CUDA is not available to PyTorch on this machine")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        return torch.device(name)
    if name.startswith("metal") or name == "mps":
        if not torch.backends.mps.is_available():
            bp.skip("MPS (Metal) is not available to PyTorch on this machine")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    bp.skip(f"device `{name}` has no PyTorch counterpart here")


def main():
    task = sys.argv[1] if len(sys.argv) > 1 else ""
    params = bp.params()
    device = device_of(params.get("device", "cpu"))
    dtype = DTYPES[params.get("dtype", "f32")]
    torch.manual_seed(int(params.get("seed", 0)))
    info = {}

    if task == "matmul":
        n = int(params["n"])
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        info["flops_per_iteration"] = 2.0 * n**3

        def step():
            torch.matmul(a, b)

    elif task in ("train", "infer"):
        spec = bp.model_spec()
        model, sample_shape = build(spec)
        model = model.to(device=device, dtype=dtype)
        batch = int(params["batch"])
        x = torch.randn(batch, *sample_shape, device=device, dtype=dtype)
        info["samples_per_iteration"] = batch
        info["param_count"] = sum(p.numel() for p in model.parameters())
        info["weight_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
        if task == "train":
            model.train()
            target = torch.randn(batch, spec["outputs"], device=device, dtype=torch.float32)
            optimizer = torch.optim.AdamW(
                model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01
            )

            def step():
                # Mixed precision as docs/src/canonical-workloads.md §5: half weights and activations, f32 loss.
                loss = F.mse_loss(model(x).float(), target)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

        else:
            model.eval()

            def step():
                with torch.inference_mode():
                    model(x)

    else:
        bp.fail(f"unknown task {task!r}: use matmul, train or infer", status=2)

    # PyTorch's name and version, the GPU's name and the thread count, with the figures above.
    bp.torch_info(device, **info)
    try:
        bp.measure(step, sync=device)
    except torch.OutOfMemoryError as e:
        bp.fail(f"out of memory: {e}")
    if device.type == "cuda":
        bp.info(device_allocated_bytes=torch.cuda.max_memory_allocated(device))


if __name__ == "__main__":
    main()
