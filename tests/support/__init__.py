"""Shared test helpers (servers, encoders) used by several test tiers."""
