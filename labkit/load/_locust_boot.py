"""Start Locust so that every process it forks dies with its parent.

Run as a script (not `-m`, which would import labkit into the load generator). The parent sets
the death signal for the Locust master; `--processes` workers are forked by the master, so each
fork asks for the same signal and a killed master takes its workers with it.
"""

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1
# Locust's "current" percentiles cover the last 10 s; runs here last seconds, so the time series
# uses a 2 s window instead (the final percentiles cover the whole run either way).
PERCENTILE_WINDOW_S = 2


def _die_with_parent() -> None:
    """Ask the kernel for SIGKILL when the process that forked this one exits.

    Uses the libc already loaded: looking it up (find_library) would fork, and so recurse.
    """
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


if __name__ == "__main__":
    os.register_at_fork(after_in_child=_die_with_parent)
    import locust.stats
    from locust.main import main

    locust.stats.CURRENT_RESPONSE_TIME_PERCENTILE_WINDOW = PERCENTILE_WINDOW_S
    locust.stats.CSV_STATS_FLUSH_INTERVAL_SEC = 1  # the progress bar reads the file live

    sys.argv[0] = "locust"
    sys.exit(main())  # type: ignore[no-untyped-call]
