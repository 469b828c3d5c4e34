#!/usr/bin/env python3
"""Turn qkern-bench's JSON (--benchmark_out) into a markdown report and a roofline PNG.

    plot_roofline.py bench.json [--md table.md] [--png roofline.png] [--threads N]

The ceilings come from the JSON context (qk_*_t<threads>, measured by the same run);
every matmul row already carries GOPS, GB/s, roof_GOPS and roof_pct (docs/performance.md).
The peer ratio is qkern's GOPS over the peer's at the same M, N, K and threads:
oneDNN u8s8 for the int8-arithmetic modes, OpenBLAS sgemm for the float ones.
The PNG needs matplotlib; without it the tables are still written.
"""
import argparse
import json
import sys

INT8_ACTS = {"i8", "q8_0", "q8_1", "llm_int8"}
PEER_TITLES = {"onednn": "oneDNN u8s8", "openblas": "OpenBLAS sgemm", "clblast": "CLBlast sgemm"}
PEER_COLORS = {"onednn": "red", "openblas": "purple", "clblast": "darkorange"}


def parse_name(name):
    """'matmul/x86/w=q4_0/a=q8_0/M:1/N:4096/K:4096/threads:2/real_time' -> (parts, fields)."""
    parts, fields = [], {}
    for p in name.split("/"):
        if p in ("real_time", "manual_time") or p.startswith("iterations:"):
            continue
        if ":" in p:
            k, v = p.split(":", 1)
            fields[k] = v
        elif "=" in p:
            k, v = p.split("=", 1)
            fields[k] = v
        else:
            parts.append(p)
    return parts, fields


def fnum(x, digits=3):
    if x is None:
        return "–"
    if x == 0:
        return "0"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits - 1}f}" if abs(x) >= 1 else f"{x:.{digits}f}"


def cpu(r):
    """The row's CPU share; below 90 % other processes took cores and the row is understated."""
    if "cpu_pct" not in r:
        return "–"
    v = min(r["cpu_pct"], 100.0)
    return f"{v:.0f}%" + (" ⚠" if v < 90 else "")


def load(path):
    with open(path) as f:
        data = json.load(f)
    ctx = data.get("context", {})
    ceilings = {}
    for key, val in ctx.items():
        for prefix, field in (("qk_int8_peak_gops_t", "int8"), ("qk_amx_int8_peak_gops_t", "amx"),
                              ("qk_f32_peak_gflops_t", "f32"), ("qk_bf16_peak_gflops_t", "bf16"),
                              ("qk_read_gbs_t", "read"), ("qk_read4k_gbs_t", "read4k"), ("qk_copy_gbs_t", "copy"),
                              ("qk_probe_cpu_share_t", "cpu_share")):
            if key.startswith(prefix):
                ceilings.setdefault(int(key[len(prefix):]), {})[field] = float(val)
    rows = []
    for b in data.get("benchmarks", []):
        if b.get("run_type") == "aggregate":
            continue
        parts, fields = parse_name(b["name"])
        r = {"name": b["name"], "parts": parts, "fields": fields, "label": b.get("label", ""),
             "error": b.get("error_message") if b.get("error_occurred") else None}
        for c in ("GOPS", "GB/s", "roof_GOPS", "roof_pct", "AI", "roof_GB/s", "cpu_pct", "rotated_MiB",
                  "read_beside_GB/s", "copy_beside_GB/s", "beside_pct"):
            if c in b:
                r[c] = b[c]
        r["threads"] = int(fields.get("threads", b.get("threads", 1)))
        rows.append(r)
    return ctx, ceilings, rows


def beside(r):
    """The row's GB/s against the read probe run right after it (M ≤ 8 rows), with that probe."""
    if "beside_pct" not in r:
        return "–"
    return f"{fnum(r['beside_pct'])} ({fnum(r['read_beside_GB/s'])})"


def shape_of(r):
    f = r["fields"]
    return (int(f["M"]), int(f["N"]), int(f["K"]))


def build_tables(ctx, ceilings, rows):
    out = []
    mode = ctx.get("qk_mode", "?")
    out.append(f"qkern {ctx.get('qk_version', '?')} on {ctx.get('host_name', '?')}, "
               f"{ctx.get('num_cpus', '?')} CPUs; features: {ctx.get('qk_cpu_features', '?')}; "
               f"set: {mode}")
    out.append("")
    out.append(f"Backends: {ctx.get('qk_backends', '?')}")
    if "onednn_effective_isa" in ctx:
        out.append(f"Peers: oneDNN {ctx.get('onednn_version', '?')} (effective ISA "
                   f"{ctx['onednn_effective_isa']}), OpenBLAS core {ctx.get('openblas_core', '?')}")
    out.append("")

    out.append("### Ceilings (measured by this run)")
    out.append("")
    amx = any("amx" in c for c in ceilings.values())
    bf16 = any("bf16" in c for c in ceilings.values())
    out.append(f"| threads | int8 dot peak GOPS ({ctx.get('qk_int8_isa', '?')}) | "
               + ("AMX-INT8 peak GOPS (tdpbusd) | " if amx else "")
               + f"f32 FMA peak GFLOPS ({ctx.get('qk_f32_isa', '?')}) | "
               + (f"BF16 dot peak GFLOPS ({ctx.get('qk_bf16_isa', '?')}) | " if bf16 else "")
               + "DRAM read GB/s | read, 4 KiB pages | copy GB/s | CPU share |")
    out.append("|---:|---:|" + ("---:|" if amx else "") + ("---:|" if bf16 else "") + "---:|---:|---:|---:|---:|")
    for t in sorted(ceilings):
        c = ceilings[t]
        out.append(f"| {t} | {fnum(c.get('int8'))} | " + (f"{fnum(c.get('amx'))} | " if amx else "")
                   + f"{fnum(c.get('f32'))} | " + (f"{fnum(c.get('bf16'))} | " if bf16 else "")
                   + f"{fnum(c.get('read'))} | "
                   f"{fnum(c.get('read4k'))} | {fnum(c.get('copy'))} | {c.get('cpu_share', 1) * 100:.0f}% |")
    if bf16:
        out.append("")
        out.append("FP8 × FP8 rows are held to the BF16 dot peak: both operands widen exactly to BF16 and "
                   "`vdpbf16ps` multiplies them (the f32 FMA peak where a CPU has no AVX512_BF16).")
    if amx:
        out.append("")
        out.append("Rows whose kernel is `…__amx` run on the AMX tile unit; their % of roofline is against the "
                   "`vpdpbusd` peak (the issue's ceiling), so it can pass 100 %. The `x86-vnni` rows are the same "
                   "matmuls with `amx_int8` masked: the like-for-like comparison with oneDNN capped at AVX512_CORE_VNNI.")
    low = [t for t, c in ceilings.items() if c.get("cpu_share", 1) < 0.9]
    if low:
        out.append("")
        out.append(f"**Warning:** other processes held the cores while the ceilings were probed "
                   f"(threads {', '.join(map(str, sorted(low)))}); the ceilings and every % below are understated.")
    out.append("")

    # Quantize / dequantize: one line per (backend, format, threads).
    q = {}
    for r in rows:
        if r["parts"][:1] in (["quantize"], ["dequantize"]) and len(r["parts"]) >= 3 and not r["error"]:
            key = (r["parts"][1], r["parts"][2], r["threads"])
            q.setdefault(key, {})[r["parts"][0]] = r
    if q:
        out.append("### Quantize / dequantize, 4096 × 4096 F32 (GB/s = f32 bytes + quantised bytes)")
        out.append("")
        out.append("\"beside\": the same GB/s against a copy probe run right after the row with the same threads "
                   "(the ceiling of that minute; \"% of copy\" is against the run's one probe).")
        out.append("")
        out.append("| format | backend | threads | quantize GB/s | % of copy | beside | dequantize GB/s | % of copy | beside "
                   "| kernels |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for (backend, fmt, t), d in sorted(q.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
            qq, dq = d.get("quantize"), d.get("dequantize")
            kern = ", ".join(sorted({x["label"] for x in (qq, dq) if x}))
            out.append(f"| {fmt} | {backend} | {t} | {fnum(qq and qq.get('GB/s'))} | {fnum(qq and qq.get('roof_pct'))} | "
                       f"{fnum(qq and qq.get('beside_pct'))} | "
                       f"{fnum(dq and dq.get('GB/s'))} | {fnum(dq and dq.get('roof_pct'))} | "
                       f"{fnum(dq and dq.get('beside_pct'))} | {kern} |")
        out.append("")

    peers = {}
    for r in rows:
        if r["parts"][:1] == ["peer"] and not r["error"] and "GOPS" in r:
            peers[(r["parts"][1], shape_of(r), r["threads"])] = r
    mm = [r for r in rows if r["parts"][:1] == ["matmul"] and not r["error"] and "GOPS" in r]
    if mm:
        out.append("### Matmul Y = X·Wᵀ (GOPS = 2·M·N·K / time; roofline = min(peak, read BW × ops / bytes))")
        out.append("")
        if any("beside_pct" in r for r in mm):
            out.append("\"% of read beside\" (M ≤ 8): the row's GB/s against a read probe run right after it with the "
                       "same threads, the ceiling of that minute; the roofline's read is the run's one probe.")
            out.append("")
        out.append("| kernel | backend | W × A | M×N×K | threads | GOPS | GB/s | roofline GOPS | % of roofline | "
                   "% of read beside | peer | peer GOPS | qkern / peer | CPU share |")
        out.append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|")
        for r in mm:
            f = r["fields"]
            shape = shape_of(r)
            if f.get("a") in INT8_ACTS:
                peer_name = "onednn"
            elif r["parts"][1] == "opencl" and ("clblast", shape, r["threads"]) in peers:
                peer_name = "clblast"
            else:
                peer_name = "openblas"
            p = peers.get((peer_name, shape, r["threads"]))
            ratio = r["GOPS"] / p["GOPS"] if p and p["GOPS"] > 0 else None
            r["peer_ratio"] = ratio
            out.append(f"| {r['label']} | {r['parts'][1]} | {f.get('w')} × {f.get('a')} | "
                       f"{shape[0]}×{shape[1]}×{shape[2]} | {r['threads']} | {fnum(r['GOPS'])} | {fnum(r['GB/s'])} | "
                       f"{fnum(r['roof_GOPS'])} | {fnum(r['roof_pct'])} | "
                       f"{beside(r)} | {PEER_TITLES[peer_name]} | "
                       f"{fnum(p['GOPS']) if p else '–'} | {fnum(ratio) if ratio else '–'} | {cpu(r)} |")
        out.append("")
    if peers:
        out.append("### Peers")
        out.append("")
        out.append("| library | M×N×K | threads | GOPS | GB/s | roofline GOPS | % of roofline | CPU share |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|")
        for (name, shape, t), r in sorted(peers.items()):
            out.append(f"| {r['label']} | {shape[0]}×{shape[1]}×{shape[2]} | {t} | {fnum(r['GOPS'])} | "
                       f"{fnum(r['GB/s'])} | {fnum(r['roof_GOPS'])} | {fnum(r['roof_pct'])} | {cpu(r)} |")
        out.append("")

    skipped = [r for r in rows if r["error"]]
    if skipped:
        out.append(f"### Skipped ({len(skipped)})")
        out.append("")
        reasons = {}
        for r in skipped:
            reasons.setdefault(r["error"], []).append(r["name"].replace("/real_time", ""))
        for why, names in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            out.append(f"- {why} — {shown}")
        out.append("")
    return "\n".join(out), mm, peers


def plot(png, ceilings, mm, peers, threads):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = ceilings[threads]
    fig, ax = plt.subplots(figsize=(10, 7))
    ais = [r["AI"] for r in mm if r["threads"] == threads] + [p["AI"] for p in peers.values() if p["threads"] == threads]
    lo = min(ais + [0.1]) / 2
    hi = max(ais + [1000]) * 2
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    bw = c["read"]
    for peak, name, style in ((c["int8"], "int8 dot peak", "-"), (c["f32"], "f32 FMA peak", "--")):
        ax.plot(xs, [min(peak, bw * x) for x in xs], style, color="black", lw=1.5)
    if c.get("amx"):
        ax.plot(xs, [min(c["amx"], bw * x) for x in xs], "-.", color="black", lw=1.2)
    if c.get("bf16"):
        ax.plot(xs, [min(c["bf16"], bw * x) for x in xs], ls=(0, (5, 2, 1, 2)), color="dimgray", lw=1.2)
    if c.get("read4k"):
        ax.plot(xs, [min(c["int8"], c["read4k"] * x) for x in xs], ":", color="gray", lw=1.2)
    markers = {"scalar": "o", "x86": "s", "x86-vnni": "P", "neon": "^", "opencl": "D"}
    colors = {}
    palette = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for r in mm:
        if r["threads"] != threads:
            continue
        fam = r["fields"].get("a")
        if fam not in colors:
            colors[fam] = palette[len(colors) % len(palette)]
        ax.scatter(r["AI"], r["GOPS"], marker=markers.get(r["parts"][1], "x"), color=colors[fam], s=36,
                   alpha=0.85, edgecolors="none")
    for (name, shape, t), p in peers.items():
        if t != threads:
            continue
        ax.scatter(p["AI"], p["GOPS"], marker="*", color=PEER_COLORS.get(name, "gray"), s=90)
    # Legends: activation mode by colour, backend by marker, peers as stars.
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], ls="-", color="black", label="int8 roofline"),
               Line2D([], [], ls="--", color="black", label="f32 roofline")]
    if c.get("amx"):
        handles.append(Line2D([], [], ls="-.", color="black", label=f"AMX-INT8 roofline ({c['amx']:.0f} GOPS)"))
    if c.get("bf16"):
        handles.append(Line2D([], [], ls=(0, (5, 2, 1, 2)), color="dimgray",
                              label=f"BF16 dot roofline, FP8 × FP8 ({c['bf16']:.0f} GFLOPS)"))
    if c.get("read4k"):
        handles.append(Line2D([], [], ls=":", color="gray", label=f"read over 4 KiB pages {c['read4k']:.1f} GB/s"))
    handles += [Line2D([], [], ls="", marker="o", color=col, label=f"activations {fam}") for fam, col in colors.items()]
    handles += [Line2D([], [], ls="", marker=m, color="gray", label=f"backend {b}") for b, m in markers.items()
                if any(r["parts"][1] == b for r in mm)]
    handles += [Line2D([], [], ls="", marker="*", color=PEER_COLORS[n], ms=10, label=PEER_TITLES[n])
                for n in PEER_TITLES if any(k[0] == n and k[2] == threads for k in peers)]
    ax.legend(handles=handles, loc="lower right", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (ops per byte of weights + scales + activations read)")
    ax.set_ylabel("GOPS")
    ax.set_title(f"qkern roofline, {threads} thread(s): int8 {c['int8']:.0f} GOPS, f32 {c['f32']:.0f} GFLOPS, "
                 f"read {bw:.1f} GB/s")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("json")
    ap.add_argument("--md", help="write the markdown tables here")
    ap.add_argument("--png", help="write the roofline plot here (needs matplotlib)")
    ap.add_argument("--threads", type=int, help="thread count to plot (default: the largest measured)")
    a = ap.parse_args()
    ctx, ceilings, rows = load(a.json)
    if not ceilings:
        sys.exit(f"{a.json}: no qk_* ceilings in the context; is this qkern-bench output?")
    text, mm, peers = build_tables(ctx, ceilings, rows)
    if a.md:
        with open(a.md, "w") as f:
            f.write(text + "\n")
    print(text)
    if a.png:
        t = a.threads or max(ceilings)
        try:
            plot(a.png, ceilings, mm, peers, t)
            print(f"roofline plot: {a.png}")
        except ImportError:
            print("matplotlib is not installed (apt: python3-matplotlib); no plot written", file=sys.stderr)


if __name__ == "__main__":
    main()
