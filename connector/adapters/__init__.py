"""Ledger adapters: where invoices go and where payment status comes from."""
