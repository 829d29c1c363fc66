"""Data: synthetic device commands and prepared function-calling corpora."""
