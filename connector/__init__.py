"""milestone-connector: project milestones in, ledger invoices out, exactly once.

The data flows one way: tracker source -> billing decisions -> plan -> actions against the ledger
-> state -> report. `connector.sync.run_once` is the one entry point for a run.
"""

__version__ = "0.1.0"
