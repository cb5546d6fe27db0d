"""The documentation keeps its promises: commands CI runs, links that lead somewhere.

What a setting is and does is checked in test_config.py (docs/configuration.md
is generated); every HTML page the service serves in test_html_pages.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
PAGES = sorted([README, *(ROOT / "docs").rglob("*.md")])
INSTALL_AND_SERVE = "pip install . && monitor serve"
TEST_COMMAND = "pip install -e '.[test]' && python -m pytest"


def shell_blocks(text: str) -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL)]


def test_the_readme_starts_with_install_and_serve_then_the_whole_suite() -> None:
    assert shell_blocks(README.read_text())[:2] == [INSTALL_AND_SERVE, TEST_COMMAND]


def test_ci_ends_with_the_readmes_test_command() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    assert commands[-1] == TEST_COMMAND


def test_make_test_runs_the_suite_as_the_readme_does() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:\n\t(.+)$", makefile, re.MULTILINE)
    assert recipe is not None
    assert TEST_COMMAND.endswith(recipe[1])


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors_of(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    return {slug(m[1]) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


def links_of(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page: Path) -> None:
    broken = []
    for link in links_of(page):
        if re.match(r"[a-z]+:", link):
            continue  # http(s), mailto: not ours to check offline
        target_text, _, anchor = link.partition("#")
        target = (page.parent / target_text).resolve() if target_text else page
        if not target.exists():
            broken.append(f"{link}: no such file")
        elif anchor and target.suffix == ".md" and anchor not in anchors_of(target):
            broken.append(f"{link}: no heading #{anchor} in {target.name}")
    assert not broken, broken


def test_no_page_claims_timescaledb() -> None:
    # known-gaps.md says, truthfully, that TimescaleDB is not used.
    claims = [ROOT / "compose.yaml", README, *(ROOT / "docs").glob("*.md")]
    claims += sorted((ROOT / "src").rglob("*.py"))
    mentions = [
        path.relative_to(ROOT)
        for path in claims
        if path.name != "known-gaps.md" and "timescale" in path.read_text().lower()
    ]
    assert not mentions


def test_the_readme_says_where_what_is_not_built_yet_is_listed() -> None:
    text = README.read_text()
    intro = " ".join(text.split("\n## ", 1)[0].split())
    assert "dashboard" in intro and "alert" in intro and "Delivery log" in intro
    assert "(docs/known-gaps.md)" in intro


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Live streaming (websockets)", "live-streaming-websockets"),
        ("Rate limits and client addresses", "rate-limits-and-client-addresses"),
        ("`monitor tail`", "monitor-tail"),
        ("`bench/ws_fanout.py`", "benchws_fanoutpy"),
        ("HTTP conventions", "http-conventions"),
    ],
)
def test_anchors_are_made_as_github_makes_them(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor
