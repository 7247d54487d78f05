"""Conformance suites a ledger adapter or tracker source runs in its own tests.

`connector.testing.ledger.LedgerConformance` and `connector.testing.source.SourceConformance` are
pytest test classes: subclass one in a test module, give it the fixtures its docstring names, and
pytest runs every check against your plugin. They need pytest, which the connector itself does
not: only whoever runs them installs it. Nothing in the product imports this package.
"""
