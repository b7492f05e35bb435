"""The development stack, started the production way, for the tests and the benchmarks alike.

One place for what both need: free ports, wait loops, the environment a product process gets,
processes with their logs, gunicorn (one pool, or the two lanes behind nginx), the Razorpay
emulator, Celery worker and beat, and the emulator's pay call. It starts the product as
subprocesses and talks to it over HTTP: it imports no app (`apps.*`), so a benchmark using it
measures the product from outside, as a buyer would.
"""
