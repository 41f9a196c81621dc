"""Matplotlib figures for load runs and knees; closed before returning so a notebook shows them once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib.pyplot as plt

from labkit.load._parse import AGGREGATED

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


def plot_run(history: pd.DataFrame, title: str) -> Figure:
    """Throughput, latency percentiles and errors per second of a run's history, on one time axis.

    It takes the history, not the `LoadRun`, so the result model and its plots do not import
    each other.
    """
    total = history[history["endpoint"] == AGGREGATED]
    fig, (rps_ax, lat_ax, err_ax) = plt.subplots(3, 1, sharex=True, figsize=(8, 6.5))
    rps_ax.plot(total["t_s"], total["rps"], color="tab:green", label="requests/s")
    users_ax = rps_ax.twinx()
    users_ax.step(total["t_s"], total["users"], color="tab:blue", alpha=0.4, where="post")
    users_ax.set_ylabel("users", color="tab:blue")
    rps_ax.set_ylabel("requests/s")
    rps_ax.set_title(title)
    for column, colour in (
        ("p50_ms", "tab:olive"),
        ("p95_ms", "tab:orange"),
        ("p99_ms", "tab:red"),
    ):
        lat_ax.plot(total["t_s"], total[column], color=colour, label=column.removesuffix("_ms"))
    lat_ax.set_ylabel("latency (ms)\nlast 2 s window")
    lat_ax.legend(loc="upper left")
    lat_ax.set_ylim(bottom=0)
    err_ax.bar(total["t_s"], total["failures_per_s"], color="tab:red", width=0.8)
    err_ax.set_ylabel("failures/s")
    err_ax.set_ylim(0, max(1.0, float(total["failures_per_s"].max() or 0) * 1.1))
    err_ax.set_xlabel("seconds since start")
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_knee(steps: pd.DataFrame, knee_users: int | None) -> Figure:
    """Throughput and P95 against users; the knee marked where one flattens and the other rises."""
    fig, rps_ax = plt.subplots(figsize=(7, 4))
    rps_ax.plot(steps["users"], steps["rps"], "o-", color="tab:green", label="requests/s")
    rps_ax.set_xscale("log", base=2)  # steps usually double the users
    rps_ax.set_xticks(steps["users"], [str(u) for u in steps["users"]])
    rps_ax.set_xlabel("users")
    rps_ax.set_ylabel("requests/s", color="tab:green")
    rps_ax.set_ylim(bottom=0)
    lat_ax = rps_ax.twinx()
    lat_ax.plot(steps["users"], steps["p95_ms"], "s--", color="tab:orange", label="P95")
    lat_ax.set_ylabel("P95 (ms)", color="tab:orange")
    lat_ax.set_ylim(bottom=0)
    if knee_users is not None:
        rps_ax.axvline(knee_users, color="grey", linestyle=":")
        rps_ax.annotate(f"knee: {knee_users} users", (knee_users, rps_ax.get_ylim()[1] * 0.95))
    rps_ax.set_title("Step load: throughput flattens, latency turns up")
    fig.tight_layout()
    plt.close(fig)
    return fig
