"""The README's promises that code can check: its two commands and its settings table."""

from __future__ import annotations

from pathlib import Path

from nodemcu_hil.config import settings_markdown

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_opens_with_the_two_commands():
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert commands == ["python3 tasks.py hil", "python3 tasks.py test"]


def test_settings_table_is_the_generated_one():
    assert settings_markdown() in README, "regenerate with: python -m nodemcu_hil.config"
