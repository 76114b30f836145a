"""Plumbing that feeds rows to the kernels: flagged rows in user order by batch, rule
predicates, per-user tables (traits, personas, values), traces, threads, gathering."""
