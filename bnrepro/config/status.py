"""A run's statuses, defined once (summary.json's `status`; the report reads them, run/ writes them).

- running: training, or its process died unseen (the report then shows `killed`:
  report/summaries.shown_status);
- completed: trained to its last step; diverged: stopped at a non-finite loss (an outcome);
- interrupted: stopped by a signal or a time limit, resumable; failed: an exception;
- killed: said `running` but its process is gone.
"""

RUNNING, COMPLETED, DIVERGED, INTERRUPTED, FAILED, KILLED = (
    "running",
    "completed",
    "diverged",
    "interrupted",
    "failed",
    "killed",
)
STATUSES = (RUNNING, COMPLETED, DIVERGED, INTERRUPTED, FAILED, KILLED)
FINISHED = (COMPLETED, DIVERGED)  # nothing left to train: the runs a table and a verdict count
PENDING = "pending"  # planned in a sweep, not begun (launch/sweep.py writes it before any pack starts)
