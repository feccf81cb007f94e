"""Benchmarks of the harness: `python -m bench [--quick] [NAME ...]` (or `python3 tasks.py bench`,
`hil bench`). Each benchmark is a module with NAME, SUMMARY and run(ctx) -> Result; the runner
(`bench.runner`) prints one table and writes bench/results/<timestamp>.json."""
