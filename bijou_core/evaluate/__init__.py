"""Scoring calls: metrics, BFCL semantics, reports."""
