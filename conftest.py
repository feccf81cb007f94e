"""This repository's own layer over the harness: the nodemcu_hil plugin comes in by its
pytest11 entry point (pip install -e .); the fixtures for firmware_under_test (its topics,
its config builder, the `device` fixture) live in fixtures/ and are loaded here."""

pytest_plugins = ["fixtures.suite"]
