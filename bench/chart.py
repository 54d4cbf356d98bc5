"""The report's chart (a PNG, matplotlib's Agg backend): for every target
that compares two rows of the run, ops/s and p50/p99 latency of ours beside
its anchor (plain Redis, the bare framework call, client-side inference,
unbatched, THREADS_PER_QUEUE 1, ...)."""
import matplotlib

matplotlib.use("Agg")  # no display; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402

from harness import verdict  # noqa: E402

BAR = 0.4
COLORS = {"ours": "tab:blue", "anchor": "tab:gray"}


def draw(targets, title, path):
    compared = []
    for t in targets:  # one line per comparison: of two targets on the same rows, the last
        if t["pair"]:
            if compared and compared[-1]["pair"] == t["pair"]:
                compared.pop()
            compared.append(t)
    rows = range(len(compared))
    fig, (ops, latency) = plt.subplots(1, 2, sharey=True, figsize=(16, 1.5 + 0.3 * len(compared)),
                                       gridspec_kw={"width_ratios": [1, 1]})
    for side, shift in (("ours", -BAR / 2), ("anchor", BAR / 2)):
        y = [i + shift for i in rows]
        figures = [t["pair"][side] for t in compared]
        ops.barh(y, [f["ops_per_sec"] for f in figures], BAR, color=COLORS[side], label=side)
        latency.barh(y, [f["p50_us"] for f in figures], BAR, color=COLORS[side],
                     label=f"{side} p50")
        latency.scatter([f["p99_us"] for f in figures], y, marker="|", s=60, color="black",
                        label="p99" if side == "ours" else None)
    ops.set_yticks(list(rows), [f"{t['name']}  {verdict(t['pass'])}" for t in compared],
                   fontsize=7)
    ops.invert_yaxis()
    for ax, label in ((ops, "ops/s (log)"), (latency, "latency, us (log): bar p50, tick p99")):
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(axis="x", which="both", alpha=0.3)
        ax.legend(loc="lower right", fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
