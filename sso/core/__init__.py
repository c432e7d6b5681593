"""Leaf helpers every layer may use: the clock, crypto primitives, domain errors, audit events."""
