"""Draws bench/soak.png from the JSON `epmd-bench soak` writes: each
server's resident memory (as growth over its level after warm-up, so that
servers of any size share a scale), open descriptors, nodes listed and
exchanges per second over the run, with the end of warm-up marked and the
margins the end must stay within.

Usage: python soak_chart.py RESULTS.json OUT.png
"""

from figures import colour, plt, run


def minutes(samples):
    return [s["t_s"] / 60 for s in samples]


def rates(samples):
    """Exchanges per second between consecutive samples."""
    x, y = [], []
    for a, b in zip(samples, samples[1:]):
        dt = b["t_s"] - a["t_s"]
        if dt > 0:
            x.append(b["t_s"] / 60)
            y.append((b["done"] - a["done"]) / dt)
    return x, y


def draw(results):
    margins = results["margins"]
    warmup_min = results["warmup_s"] / 60

    fig, axes = plt.subplots(2, 2, figsize=(14, 8.5), dpi=100, sharex=True)
    (rss, fds), (listed, rate) = axes

    for server in results["servers"]:
        label = server["label"]
        c = colour(label)
        samples = server["samples"]
        t = minutes(samples)
        warm_kib = server["warm"]["rss_kib"]
        rss.plot(t, [(s["rss_kib"] - warm_kib) / 1024 for s in samples], color=c,
                 label=f"{label} ({warm_kib / 1024:.1f} MiB after warm-up)")
        rss.axhline((server["rss_limit_kib"] - warm_kib) / 1024, color=c, linestyle=":",
                    linewidth=1.5)
        fds.plot(t, [s["fds"] for s in samples], color=c, label=label)
        warm_fds = server["warm"]["fds"]
        fds.axhspan(warm_fds - margins["fds"], warm_fds + margins["fds"], color=c, alpha=0.15)
        listed.plot(t, [s["listed"] if s["listed"] is not None else float("nan") for s in samples],
                    color=c, label=label)
        x, y = rates(samples)
        rate.plot(x, y, color=c, label=label)

    rss.set_title("Resident memory over its level after warm-up (dotted: the limit at the end)")
    rss.set_ylabel("MiB")
    fds.set_title(f"Open descriptors (band: after warm-up ± {margins['fds']})")
    fds.set_ylabel("descriptors")
    listed.set_title("Nodes NAMES lists")
    listed.set_ylabel("nodes")
    rate.set_title("Soak exchanges per second")
    rate.set_ylabel("exchanges/s")
    for ax in (rss, fds, listed, rate):
        ax.axvline(warmup_min, color="#6b6b6b", linestyle="-.", linewidth=1)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=9, loc="center right")
    for ax in (fds, listed, rate):
        ax.set_ylim(bottom=0)
    for ax in (listed, rate):
        ax.set_xlabel("minutes (dash-dot line: end of warm-up)")

    verdict = "PASS" if results["pass"] else "FAIL"
    return fig, (f"epmd-bench soak {results['date']}, {results['duration_s'] / 60:g} min, "
                 f"{verdict}: {results['machine']}")


if __name__ == "__main__":
    run(draw, __doc__)
