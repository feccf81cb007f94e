"""This repository's own layer over the harness: the nodemcu_hil plugin comes in by its
pytest11 entry point (pip install -e .); the firmware-specific fixtures live in fixtures/."""
