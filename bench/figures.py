"""What the chart scripts share: matplotlib without a display, one colour
per server in every chart, and the command line RESULTS.json OUT.png."""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402,F401 (the backend comes first)

COLOURS = {"OTP epmd": "#6b6b6b", "epmd-rs": "#d9480f", "in-VM": "#1c7ed6"}


def colour(server):
    return COLOURS.get(server, "#6b6b6b")


def run(draw, usage):
    """Reads the JSON named first on the command line, lets `draw(results)`
    make the figure and its title, and saves it where the second names."""
    if len(sys.argv) != 3:
        sys.exit(usage)
    with open(sys.argv[1]) as f:
        results = json.load(f)
    fig, title = draw(results)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(sys.argv[2])
