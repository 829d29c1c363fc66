"""Executing calls on devices."""
