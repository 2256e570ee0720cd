"""Draws bench/chart.png from the JSON `epmd-bench suite` writes: PORT2
lookups/s against concurrent clients (1 and 1,000 nodes registered) and
against registered nodes (4 clients), and the server's CPU time per lookup
against registered nodes, one line per server.

Usage: python chart.py RESULTS.json OUT.png
"""

from matplotlib.ticker import FuncFormatter

from figures import colour, plt, run

MARKERS = ["s", "o", "^"]


def thousands(value, _position=None):
    return f"{value:,.0f}"


def series(points, server, fixed, vary, value="rate"):
    """(x, value) of one server at the points where `fixed` holds, by `vary`."""
    chosen = [p for p in points if all(p[k] == v for k, v in fixed.items())]
    chosen.sort(key=lambda p: p[vary])
    return [p[vary] for p in chosen], [p[value][server] for p in chosen]


def draw(results):
    servers = results["servers"]
    points = results["lookups"]

    fig, (by_clients, by_nodes, cpu) = plt.subplots(1, 3, figsize=(18, 5.4), dpi=100)

    for i, name in enumerate(servers):
        c = colour(name)
        for nodes, style in ((1, "-"), (1000, "--")):
            x, y = series(points, i, {"nodes": nodes}, "clients")
            if x:
                by_clients.plot(x, y, style, color=c, marker=MARKERS[i],
                                linewidth=2, markersize=7,
                                label=f"{name}, {nodes:,} node{'s' if nodes > 1 else ''}")
        x, y = series(points, i, {"clients": 4}, "nodes")
        if x:
            by_nodes.plot(x, y, "-", color=c, marker=MARKERS[i],
                          linewidth=2, markersize=7, label=name)
        x, y = series(points, i, {"clients": 4}, "nodes", "cpu_us")
        if x:
            cpu.plot(x, y, "-", color=c, marker=MARKERS[i],
                     linewidth=2, markersize=7, label=name)

    by_clients.set_title("PORT2 lookups/s against concurrent clients")
    by_clients.set_xlabel("concurrent clients (one request in flight each)")
    by_clients.set_xscale("log", base=2)
    by_clients.set_xticks([1, 4, 16], labels=["1", "4", "16"])
    by_clients.legend(fontsize=8.5, loc="best")

    by_nodes.set_title("PORT2 lookups/s against registered nodes (4 clients)")
    cpu.set_title("Server CPU time per PORT2 lookup (4 clients)")
    cpu.set_ylabel("µs of CPU per lookup (lower is better)")
    for ax in (by_nodes, cpu):
        ax.set_xlabel("registered nodes")
        ax.set_xscale("log")
        ax.set_xticks([1, 10, 100, 1000], labels=["1", "10", "100", "1,000"])
        ax.legend(fontsize=9, loc="best")

    rounds = results["rounds"]
    for ax in (by_clients, by_nodes):
        ax.set_ylabel(f"lookups/s (median of {rounds}+ rounds)" if rounds > 1 else "lookups/s")
        ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    for ax in (by_clients, by_nodes, cpu):
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)

    return fig, f"epmd-bench {results['date']}: {results['machine']}"


if __name__ == "__main__":
    run(draw, __doc__)
