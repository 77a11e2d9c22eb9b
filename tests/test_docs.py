"""The README's generated blocks hold exactly what the scripts wrote; its stage table lists every
stage; every relative link in the Markdown pages resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from wb_embedder.docs import BLOCKS, block, stale_blocks, sync


def test_generated_blocks_are_the_scripts_output(repo_root: Path) -> None:
    stale = stale_blocks(repo_root)
    assert not stale, f"stale generated blocks (run python -m wb_embedder.docs): {stale}"


def test_a_block_may_show_the_committed_figures_after_a_local_rerun(tmp_path: Path) -> None:
    """Another machine's dvc repro rewrites metrics/ in the fourth decimal: the committed page
    still shows the committed figures, and that is not stale; a page matching neither is."""
    import subprocess

    blocks = {"results": (Path("README.md"), Path("metrics/report.md"))}
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "report.md").write_text("| a | 0.5001 |\n", encoding="utf-8")
    (tmp_path / "README.md").write_text("<!-- BEGIN results -->\n| a | 0.5001 |\n<!-- END results -->\n", encoding="utf-8")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "x"], cwd=tmp_path, check=True)
    assert stale_blocks(tmp_path, blocks) == []
    (tmp_path / "metrics" / "report.md").write_text("| a | 0.5002 |\n", encoding="utf-8")  # this CPU's rerun
    assert stale_blocks(tmp_path, blocks) == []
    (tmp_path / "README.md").write_text("<!-- BEGIN results -->\n| a | 0.4 |\n<!-- END results -->\n", encoding="utf-8")
    assert stale_blocks(tmp_path, blocks) == ["README.md block 'results'"]


def test_sync_replaces_only_the_block(tmp_path: Path) -> None:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "report.md").write_text("| a | 0.5 |\n", encoding="utf-8")
    blocks = {"results": (Path("README.md"), Path("metrics/report.md"))}
    readme = tmp_path / "README.md"
    readme.write_text("before\n<!-- BEGIN results -->\n| a | 0.4 |\n<!-- END results -->\nafter\n", encoding="utf-8")
    assert sync(tmp_path, blocks) == ["results"]
    assert readme.read_text(encoding="utf-8") == "before\n<!-- BEGIN results -->\n| a | 0.5 |\n<!-- END results -->\nafter\n"
    assert sync(tmp_path, blocks) == []
    readme.write_text("no block\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no block 'results'"):
        sync(tmp_path, blocks)


# The README guides, the docs/ pages hold the reference: every stage has a row in the README's
# stage table, and every relative link (file and #anchor) in the Markdown pages leads somewhere.

PAGES = ("README.md", "docs/*.md", "profiles/README.md")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _tokens(text: str) -> list[Token]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def _inline_text(inline: Token) -> str:
    return "".join(child.content for child in inline.children or [] if child.type in ("text", "code_inline"))


def github_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    tokens = _tokens(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            slug = github_slug(_inline_text(tokens[i + 1]))
            found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return found


def links(text: str) -> list[str]:
    """Targets of every Markdown link and image (not those inside code)."""
    out = []
    for token in _tokens(text):
        for child in token.children or []:
            if child.type == "link_open":
                out.append(str(child.attrGet("href")))
            elif child.type == "image":
                out.append(str(child.attrGet("src")))
    return out


def broken_links(page: Path, root: Path) -> list[str]:
    problems = []
    for href in links(page.read_text(encoding="utf-8")):
        if SCHEME.match(href):
            continue  # a web address: not checked offline
        path, _, fragment = href.partition("#")
        target = (page.parent / path).resolve() if path else page
        where = f"{page.relative_to(root)}: {href}"
        if not target.exists() or not target.is_relative_to(root):
            problems.append(f"{where}: no such file in the repository")
        elif fragment and target.suffix != ".md":
            problems.append(f"{where}: an anchor into a non-Markdown file cannot be checked")
        elif fragment and fragment not in anchors(target.read_text(encoding="utf-8")):
            problems.append(f"{where}: {target.relative_to(root)} has no heading #{fragment}")
    return problems


def stage_table_names(readme: str, section: str = "Stages") -> set[str]:
    """The stage names (in backticks) of the first column of the first table under ``## section``."""
    tokens = _tokens(readme)
    names: set[str] = set()
    in_section = in_body = first_cell = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            level = int(token.tag[1:])
            if in_section and level <= 2:
                break
            if not in_section:
                in_section = level == 2 and _inline_text(tokens[i + 1]).strip() == section
        elif in_section and token.type == "tbody_open":
            in_body = True
        elif in_section and token.type == "tbody_close":
            break
        elif in_body and token.type == "tr_open":
            first_cell = True
        elif in_body and token.type == "inline" and first_cell:
            names |= {c.content for c in token.children or [] if c.type == "code_inline"}
            first_cell = False
    return names


def test_every_stage_has_a_row_in_the_readme_stage_table(repo_root: Path) -> None:
    stages = set(yaml.safe_load((repo_root / "dvc.yaml").read_text(encoding="utf-8"))["stages"])
    listed = stage_table_names((repo_root / "README.md").read_text(encoding="utf-8"))
    assert not stages - listed, f"stages missing from the README's stage table: {sorted(stages - listed)}"
    assert not listed - stages, f"the README's stage table names stages dvc.yaml lacks: {sorted(listed - stages)}"


def test_every_relative_link_resolves(repo_root: Path) -> None:
    pages = sorted({p for pattern in PAGES for p in repo_root.glob(pattern)})
    assert repo_root / "README.md" in pages and any(p.parent.name == "docs" for p in pages)
    problems = [problem for page in pages for problem in broken_links(page, repo_root)]
    assert not problems, "broken links:\n  " + "\n  ".join(problems)


def test_link_checker_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# Page A\n\n## `cards`: the card dump\n\n## Twice\n\n## Twice\n\nsee [b](../b.md#real-one)\n",
        encoding="utf-8",
    )
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n"
        "[ok](docs/a.md#cards-the-card-dump) [ok](docs/a.md#twice-1) [ok](#title) [web](https://example.com/x)\n"
        "[gone](docs/missing.md) [bad anchor](docs/a.md#nope) [third](docs/a.md#twice-2)\n\n"
        "`[in code](docs/missing.md)`\n",
        encoding="utf-8",
    )
    (tmp_path / "b.md").write_text("## Real one\n", encoding="utf-8")
    assert broken_links(page, tmp_path) == [
        "README.md: docs/missing.md: no such file in the repository",
        "README.md: docs/a.md#nope: docs/a.md has no heading #nope",
        "README.md: docs/a.md#twice-2: docs/a.md has no heading #twice-2",
    ]
    assert broken_links(tmp_path / "docs" / "a.md", tmp_path) == []


def test_stage_table_reader_takes_the_first_column_of_the_stages_section() -> None:
    readme = (
        "# X\n\n## Stages\n\nText `not_a_stage`.\n\n| stage | logic |\n|---|---|\n"
        "| `one` | `two.py` |\n| `three`, `four` | x |\n\n### Sub\n\n| s |\n|---|\n| `five` |\n\n"
        "## Other\n\n| s |\n|---|\n| `six` |\n"
    )
    assert stage_table_names(readme) == {"one", "three", "four"}


def quick_start_commands(readme: str) -> dict[str, str]:
    """The README's Quick start code block as {comment: command}, one per line."""
    tokens = _tokens(readme)
    in_section = False
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            in_section = _inline_text(tokens[i + 1]).strip() == "Quick start"
        elif in_section and token.type == "fence":
            commands = {}
            for line in token.content.splitlines():
                command, _, comment = line.partition("   #")
                commands[comment.strip().lstrip("#").strip()] = command.strip()
            return commands
    raise AssertionError("README has no code block under 'Quick start'")


def test_quick_start_is_what_ci_runs(repo_root: Path) -> None:
    """.ci/run promises to run the README's set-up and test commands verbatim on a clean machine."""
    commands = quick_start_commands((repo_root / "README.md").read_text(encoding="utf-8"))
    ci_lines = {line.strip() for line in (repo_root / ".ci" / "run").read_text(encoding="utf-8").splitlines()}
    for step in ("set-up", "the tests"):
        command = commands.get(step)
        assert command in ci_lines, f"README's {step} command {command!r} is not a line of .ci/run"
