"""Turn pytest-benchmark's JSON of a full run into ``results/<cpu>-<date>.json``, ``.md`` and ``.png``.

    python benchmarks/report.py RUN.json benchmarks/results

The Markdown holds one table per group; speed-ups are over the group's Keras
example row (start-up rows over the clip group's, so they include a start
the Keras path does not pay). The chart shows those speed-ups and the live
cost of one prediction.
"""

import json
import re
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

GROUPS = ["extractor", "head", "clip", "start-up", "live", "folder", "long clip"]
BASELINE_GROUP = {"start-up": "clip"}  # a group without its own Keras example row compares with this one's


def cpu_name(run: dict) -> str:
    return run["machine_info"]["cpu"].get("brand_raw") or run["machine_info"]["processor"]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def rows_by_group(run: dict) -> dict[str, list[dict]]:
    """Each group's rows as recorded (extra_info), fastest first, with their group."""
    groups: dict[str, list[dict]] = {}
    for bench in run["benchmarks"]:
        if "variant" in bench["extra_info"]:
            groups.setdefault(bench["group"], []).append({**bench["extra_info"], "rounds": bench["stats"]["rounds"]})
    return {g: sorted(groups[g], key=lambda r: r["p50_ms"]) for g in sorted(groups, key=_group_order)}


def _group_order(group: str) -> int:
    return GROUPS.index(group) if group in GROUPS else len(GROUPS)


def speed_ups(groups: dict[str, list[dict]]) -> dict[str, dict[str, float]]:
    """Per group, each row's p50 speed-up over its Keras example row."""
    result = {}
    for group, rows in groups.items():
        examples = [r for r in groups.get(BASELINE_GROUP.get(group, group), []) if r["example"]]
        if examples:
            result[group] = {r["variant"]: examples[0]["p50_ms"] / r["p50_ms"] for r in rows}
    return result


def vector_units(flags: list[str]) -> str:
    """What decides int8 and fp32 speed: AVX2, AVX-512, and AVX-512 VNNI's int8 dot product."""
    if "avx512f" in flags:
        return "AVX-512 with VNNI" if "avx512_vnni" in flags else "AVX-512, no VNNI"
    return "AVX2, no AVX-512" if "avx2" in flags else "no AVX2"


def header(run: dict, groups: dict[str, list[dict]]) -> list[str]:
    info = run["machine_info"]
    load = run.get("load_average", {})
    sgemm = next((r["sgemm_gflops"] for r in groups.get("extractor", []) if "sgemm_gflops" in r), None)
    lines = [
        f"# vclf latency suite: {cpu_name(run)}, {run.get('cpu_count')} cores, {run['datetime'][:10]}",
        "",
        f"- CPU: {cpu_name(run)} ({info['cpu'].get('arch_string_raw', info['machine'])}, "
        f"{vector_units(info['cpu'].get('flags', []))}), "
        f"Python {info['python_version']}",
        f"- Load average (1, 5, 15 min) at start {fmt_load(load.get('start'))}, at end {fmt_load(load.get('end'))}: "
        "other work shared the cores, so compare ratios within this run, not absolute times.",
    ]
    if sgemm:
        lines.append(
            f"- sgemm (numpy float32 2048x2048 matmul, every core, fastest of 20), measured in this run: {sgemm:.1f} GFLOP/s. "
            "Extractor GFLOP/s counts the graph's convolutions at p50; *of sgemm* is the row's fastest round against it."
        )
    lines += [
        "- Every row's output was checked against Keras within its precision's tolerance.",
        "- Peak memory: for rows run in the benchmark process, how far its resident size rose while the row "
        "loaded and ran its variant (ONNX Runtime sessions and LiteRT interpreters load inside the row; the Keras "
        "models are loaded once before, so Keras rows count their working memory only); for `vclf-run` rows, "
        "that process's own peak.",
        "- int8 rows count the same network's operations as fp32; their share of the float sgemm rate can pass 100%.",
        "",
    ]
    return lines


def fmt_load(values) -> str:
    return ", ".join(f"{v:.2f}" for v in values) if values else "unknown"


def markdown(run: dict) -> str:
    groups = rows_by_group(run)
    ups = speed_ups(groups)
    lines = header(run, groups)
    for group, rows in groups.items():
        lines += [f"## {group}", ""]
        lines.append(
            "| variant | provider | precision | p50 ms | p90 ms | p95 ms | p99 ms | throughput | peak MiB | GFLOP/s | of sgemm | speed-up | rounds |"
        )
        lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in rows:
            up = ups.get(group, {}).get(r["variant"])
            lines.append(
                f"| {r['variant']} | {r['provider']} | {r['precision']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | "
                f"{_maybe(r.get('p95_ms'), '.1f')} | {r['p99_ms']:.1f} | {r['throughput']:.2f} {r['unit']}/s | {r['peak_memory_mib']:.0f} | "
                f"{_maybe(r.get('gflops'), '.1f')} | {_maybe(r.get('sgemm_share'), '.0%')} | "
                f"{_maybe(up, '.2f', 'x')} | {r['rounds']} |"
            )
        lines += [bound_note(r) for r in rows if "share_of_extractor_bound" in r]
        lines.append("")
    return "\n".join(lines)


def bound_note(row: dict) -> str:
    return (
        f"\n{row['variant']}: vclf-run's own summary {row['vclf_run_summary_clips_per_second']:.2f} clips/s, "
        f"{row['share_of_extractor_bound']:.0%} of the extractor bound "
        f"({row['extractor_bound_clips_per_second']:.2f} clips/s: one extractor call per clip, median round)."
    )


def _maybe(value, spec: str, suffix: str = "") -> str:
    return "" if value is None else f"{value:{spec}}{suffix}"


def chart(run: dict, path: Path) -> None:
    """Left: speed-up over the Keras example path per row; right: live cost of one prediction."""
    groups = rows_by_group(run)
    ups = speed_ups(groups)
    bars = [(f"{group}: {variant}", up) for group in ups for variant, up in ups[group].items()][::-1]
    live = [(r["variant"].removeprefix("live, "), r["p50_ms"]) for r in groups.get("live", [])][::-1]
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, max(4, 0.32 * len(bars) + 1.5)), width_ratios=[3, 2])
    left.barh([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
    left.set_xscale("log")
    left.axvline(1, color="black", linewidth=0.8)
    left.set_xlabel("speed-up over the Keras example path (p50, log scale)")
    for y, (_, up) in enumerate(bars):
        left.annotate(f"{up:.2f}x", (up, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    right.barh([b[0] for b in live], [b[1] for b in live], color="tab:orange")
    right.set_xlabel("ms per live prediction (p50)")
    for y, (_, ms) in enumerate(live):
        right.annotate(f"{ms:.0f} ms", (ms, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=8)
    figure.suptitle(f"vclf latency suite, {cpu_name(run)}, {run['datetime'][:10]}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_results(run_json: Path, out_dir: Path) -> Path:
    """Copy the run's JSON and write its table and chart beside it; returns the JSON's new path."""
    run = json.loads(run_json.read_text())
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / f"{slug(cpu_name(run))}-{run['datetime'][:10]}"
    shutil.copyfile(run_json, stem.with_suffix(".json"))
    stem.with_suffix(".md").write_text(markdown(run) + "\n")
    chart(run, stem.with_suffix(".png"))
    return stem.with_suffix(".json")


if __name__ == "__main__":
    print(write_results(Path(sys.argv[1]), Path(sys.argv[2])))
