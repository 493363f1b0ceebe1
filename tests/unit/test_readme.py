"""The README's lifecycle diagram is the one generated from the lifecycle table."""

from pathlib import Path

from workflow.lifecycle import mermaid

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_shows_the_diagram_generated_from_the_lifecycle_definition():
    assert f"```mermaid\n{mermaid()}\n```" in README.read_text(encoding="utf-8")
