"""Razorpay emulator (placeholder docstring, completed below)."""
