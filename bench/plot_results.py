#!/usr/bin/python3
"""PNG charts from the benchmark JSON under bench/results/ (Debian's python3-matplotlib):

  models_decode.png   decode tokens/s by model, dtype, context and thread count, next to the bandwidth limit
                      (read-probe GB/s ÷ weight bytes per token) — from lamina_bench_models JSON;
  models_prefill.png  prefill tokens/s by model, dtype, prompt and threads, next to the FMA-peak limit;
  gemm.png            GEMM GFLOP/s of lamina (f32, bf16), Eigen and OpenBLAS by shape, against BM_peak_fma — from
                      lamina_bench_kernels JSON.

    bench/plot_results.py [--models bench/results/models.json] [--kernels bench/results/kernels.json]
"""
import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def runs(path):
    """Benchmark rows by name: the median aggregate when repetitions were run, else the single run."""
    with open(path) as f:
        data = json.load(f)["benchmarks"]
    out = {}
    for r in data:
        if r.get("run_type") == "aggregate":
            if r.get("aggregate_name") != "median":
                continue
            out[r["run_name"]] = r
        else:
            out.setdefault(r["run_name"], r)
    return out


def grouped_bars(ax, groups, series, values, limits=None, ylabel=""):
    """Bars per group (x) and series (colour); limits: a marker per bar for the ceiling it is measured against."""
    width = 0.8 / len(series)
    for j, s in enumerate(series):
        xs = [i + (j - (len(series) - 1) / 2) * width for i in range(len(groups))]
        ax.bar(xs, [values.get((g, s), 0) for g in groups], width, label=s)
        if limits:
            ax.scatter(xs, [limits.get((g, s), float("nan")) for g in groups], marker="_", s=300, color="black",
                       zorder=3, label="limit" if j == 0 else None)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups, rotation=20)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)


def model_charts(path, out_dir):
    r = runs(path)
    with open(path) as f:
        context = json.load(f)["context"]
    date = context["date"][:10]
    how = "medians" if any(x.get("run_type") == "aggregate" for x in r.values()) else "one run"
    for figure, limit_of, ylabel, fname in [
        ("decode", lambda x: x["read_probe_GB_per_s"] / x["weight_MB_per_token"] * 1e3,
         "decode tokens/s; — = bandwidth limit", "models_decode.png"),
        ("prefill", lambda x: x["tokens_per_s"] / x["fma_fraction"],
         "prefill tokens/s; — = FMA-peak limit", "models_prefill.png"),
    ]:
        values, limits, models, series = {}, {}, [], []
        for name, x in r.items():
            parts = name.split("/")
            if parts[0] != "BM_" + figure:
                continue
            model, s = parts[1], f"{parts[2]} {parts[3]} {parts[4].replace('threads:', '')}T"
            if model not in models:
                models.append(model)
            if s not in series:
                series.append(s)
            values[(model, s)] = x["tokens_per_s"]
            limits[(model, s)] = limit_of(x)
        if not values:
            continue
        fig, ax = plt.subplots(figsize=(9, 4.5))
        grouped_bars(ax, models, series, values, limits, ylabel)
        ax.set_yscale("log")
        ax.set_title(f"lamina {figure}, random weights ({date}, 2-core machine, {how})")
        fig.tight_layout()
        fig.savefig(os.path.join(out_dir, fname), dpi=110)
        plt.close(fig)


def gemm_chart(path, out_dir):
    r = runs(path)
    peak = {n.split("/")[1]: x["GFLOPS"] for n, x in r.items() if n.startswith("BM_peak_fma/")}
    values, shapes, series = {}, [], []
    for name, x in r.items():
        parts = name.split("/")
        if not parts[0].startswith("BM_gemm_") or "GFLOPS" not in x or parts[1] == "M:1":
            continue
        shape = "/".join(p.split(":")[1] for p in parts[1:4])
        s = f"{parts[0][8:]} {parts[4].replace('threads:', '')}T"
        if shape not in shapes:
            shapes.append(shape)
        if s not in series:
            series.append(s)
        values[(shape, s)] = x["GFLOPS"]
    if not values:
        return
    fig, ax = plt.subplots(figsize=(11, 4.5))
    grouped_bars(ax, shapes, sorted(series), values, ylabel="GFLOP/s")
    for t, g in peak.items():
        ax.axhline(g, linestyle="--", linewidth=0.8, color="grey")
        ax.text(len(shapes) - 0.5, g, f"FMA peak {t}T", fontsize=7, va="bottom", ha="right")
    ax.set_xlabel("M/K/N")
    ax.set_title("GEMM y = x·Wᵀ (shared 2-core machine: medians, noisy)")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "gemm.png"), dpi=110)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(HERE, "results", "models.json"))
    ap.add_argument("--kernels", default=os.path.join(HERE, "results", "kernels.json"))
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    a = ap.parse_args()
    if os.path.exists(a.models):
        model_charts(a.models, a.out)
    if os.path.exists(a.kernels):
        gemm_chart(a.kernels, a.out)


if __name__ == "__main__":
    main()
