#!/usr/bin/env python3
"""The canonical workloads (docs/src/canonical-workloads.md) in PyTorch eager, for benchplan's `command` workload.

benchplan runs this once per cell (see plans/vs-pytorch.toml) and reads its per-iteration
timings from stdout, one JSON object per line (the protocol in the README, "The command
workload"). The model is built from the plan's own declaration, which benchplan passes in
BENCHPLAN_MODEL, so both frameworks run the same shapes by construction.

    python3 pytorch_workloads.py matmul|train|infer|optimize|dataload

Cell parameters (BENCHPLAN_PARAMS): `device` (cpu, cuda), `dtype` (f32, bf16, f16), and `n`
for matmul, `batch` for train, infer, optimize and dataload, `seed`; `opt` for optimize;
`workers`, `pin_memory`, `persistent` for dataload.

matmul, train and infer are eager mode; f32 is true fp32 (TF32 off), as the canonical
workloads ask. `optimize` is inference with one of the PyTorch optimizations the seed write-up
measured (`opt`): `eager` (its baseline), `compile` (torch.compile, mode="reduce-overhead"),
`autocast` (bf16 mixed precision), `dynamic-int8` (quantize_dynamic of Linear and LSTM
layers, CPU only), `static-int8` (FX graph mode post-training quantization, CPU only),
`torchscript` (torch.jit.trace) and `all` (torch.compile under bf16 autocast: PyTorch's int8
kernels combine with neither). Its `weight_bytes` is the size of the model's saved state_dict,
the "model size" a quantization changes. `dataload` is PyTorch's DataLoader over windows of the
real EIA prices in data/ (eight features, 60 days; as the seed: `next(iter(loader))` per
iteration, moved to the device), with `workers`, `pin_memory` and `persistent` workers.
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


def saved_size(model):
    """Bytes of the model's state_dict as torch.save writes it: the size a quantization changes."""
    import io

    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.getbuffer().nbytes


def optimized(model, opt, device, batch, sample_shape):
    """One inference step of `model` with the optimization `opt`, and the model's saved size."""
    x = torch.randn(batch, *sample_shape)
    quantizing = opt in ("dynamic-int8", "static-int8")
    if quantizing and device.type != "cpu":
        bp.skip(f"PyTorch's int8 quantization (`{opt}`) runs on the CPU only")
    autocast = opt in ("autocast", "all")
    size = saved_size(model)
    if opt == "dynamic-int8":
        model = torch.ao.quantization.quantize_dynamic(model, {nn.Linear, nn.LSTM}, dtype=torch.qint8)
        # The transformer layers' inference fast path reads `linear1.weight` as a tensor, which a
        # quantized Linear has as a method: it must take the ordinary path.
        torch.backends.mha.set_fastpath_enabled(False)
        size = saved_size(model)
    elif opt == "static-int8":
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        try:
            prepared = prepare_fx(model, get_default_qconfig_mapping("x86"), (x,))
            with torch.no_grad():
                for _ in range(8):  # calibration: observe activation ranges
                    prepared(torch.randn_like(x))
            model = convert_fx(prepared)
        except Exception as e:  # FX cannot trace every module (the transformer's attention)
            bp.skip(f"FX static quantization cannot convert this model: {type(e).__name__}: {e}")
        size = saved_size(model)
    model = model.to(device)
    x = x.to(device)
    if opt == "torchscript":
        with torch.no_grad():
            model = torch.jit.trace(model, x)
    elif opt in ("compile", "all"):
        model = torch.compile(model, mode="reduce-overhead")
    elif opt not in ("eager", "autocast", "dynamic-int8", "static-int8"):
        bp.fail(f"unknown optimization `opt = {opt}`: use eager, compile, autocast, dynamic-int8, static-int8, torchscript or all", status=2)

    def step():
        with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            model(x)

    if opt in ("compile", "all", "torchscript"):
        # Compilation, CUDA-graph recording and tracing happen on the first calls: three untimed
        # calls before benchplan's own warm-up, so no timed or warm-up iteration pays for them.
        for _ in range(3):
            step()
    return step, size


def prices():
    """Daily rows of the eight features of plans/seed.toml's `energy` data set, from the EIA
    series in data/ (dates all three have): three prices, their log returns, the Brent-WTI
    spread and the WTI/Henry Hub ratio; and the WTI log return as the target."""
    import csv
    import math

    here = os.path.dirname(os.path.abspath(__file__))
    data = os.path.join(here, "..", "..", "data")

    def series(name):
        with open(os.path.join(data, name), newline="") as f:
            return {r["Date"]: float(r["Price"]) for r in csv.DictReader(f) if r["Price"] not in ("", ".")}

    wti, brent, gas = (series(f) for f in ("eia_wti_daily.csv", "eia_brent_daily.csv", "eia_henry_hub_natgas_daily.csv"))
    days = sorted(d for d in wti if d in brent and d in gas and wti[d] > 0 and brent[d] > 0 and gas[d] > 0)
    rows = []
    for prev, day in zip(days, days[1:]):
        r = [math.log(s[day] / s[prev]) for s in (wti, brent, gas)]
        rows.append([wti[day], brent[day], gas[day], *r, brent[day] - wti[day], wti[day] / gas[day]])
    return torch.tensor(rows, dtype=torch.float32)


class Windows(torch.utils.data.Dataset):
    """60-day windows of the features, each with the next 5 WTI log returns."""

    def __init__(self, rows, seq_len=60, horizon=5):
        self.rows, self.seq_len, self.horizon = rows, seq_len, horizon

    def __len__(self):
        return len(self.rows) - self.seq_len - self.horizon + 1

    def __getitem__(self, i):
        end = i + self.seq_len
        return self.rows[i:end].clone(), self.rows[end : end + self.horizon, 3].clone()


def flag(params, key):
    return str(params.get(key, "false")).lower() in ("true", "1", "yes")


def loading(params, device, batch):
    """One iteration of the seed's data pipeline benchmark: a batch from a fresh iterator (with
    `persistent` workers the workers survive it), moved to the device."""
    pin = flag(params, "pin_memory") and device.type == "cuda"
    loader = torch.utils.data.DataLoader(
        Windows(prices()),
        batch_size=batch,
        shuffle=True,
        num_workers=int(params.get("workers", 0)),
        pin_memory=pin,
        persistent_workers=flag(params, "persistent") and int(params.get("workers", 0)) > 0,
    )

    def step():
        x, y = next(iter(loader))
        x.to(device, non_blocking=pin)
        y.to(device, non_blocking=pin)

    return step


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

    elif task == "optimize":
        spec = bp.model_spec()
        model, sample_shape = build(spec)
        batch = int(params["batch"])
        info["samples_per_iteration"] = batch
        info["param_count"] = sum(p.numel() for p in model.parameters())
        step, size_of = optimized(model.eval(), params.get("opt", "eager"), device, batch, sample_shape)
        info["weight_bytes"] = size_of

    elif task == "dataload":
        batch = int(params["batch"])
        step = loading(params, device, batch)
        info["samples_per_iteration"] = batch

    else:
        bp.fail(f"unknown task {task!r}: use matmul, train, infer, optimize or dataload", status=2)

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
