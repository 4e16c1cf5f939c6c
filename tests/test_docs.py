"""README.md and docs/*.md stay true to the tree: every relative link and image
resolves (an ``#anchor`` to a heading of that page, by GitHub's slug rules),
every ``vclf-run``/``vclf-train``/``vclf-export`` line they show (and the
Makefile runs) names a real command with options that command defines, and
every ``--option`` they name alone is one of those commands', every ``make
TARGET`` they show is a Makefile target, README links every page and the
pages show every image in docs/.

The options come from the click command objects themselves (their ``params``),
imported, never run.
"""

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("vclf-run", "vclf-train", "vclf-export")
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"(`+)((?:(?!\n\s*\n).)+?)\1", re.S)  # a span ends within its paragraph
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
OPTION = re.compile(r"--[A-Za-z0-9][A-Za-z0-9-]*")
MAKE = re.compile(r"^make\s+([A-Za-z0-9_./$()-]+)")


def markdown_pages() -> list[Path]:
    """README.md and every page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def split_code(text: str) -> tuple[list[str], list[str]]:
    """The page's lines outside fenced code blocks (code lines blanked), and the lines inside them."""
    prose, code, fenced = [], [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            prose.append("")
        elif fenced:
            code.append(line)
            prose.append("")
        else:
            prose.append(line)
    return prose, code


def inline_spans(prose: list[str]) -> list[str]:
    """Inline code spans of the prose, a span broken over lines joined with single spaces."""
    return [" ".join(match.group(2).split()) for match in INLINE_CODE.finditer("\n".join(prose))]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text lowercased, punctuation dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "")
    return re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading's anchor on a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for line in split_code(text)[0]:
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def relative_links(page: Path) -> list[str]:
    """The targets of a page's links and images outside code, URLs with a scheme left out."""
    text = INLINE_CODE.sub("", "\n".join(split_code(page.read_text())[0]))
    targets = (match.group(1) for match in LINK.finditer(text))
    return [target for target in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)]


def broken_links(page: Path) -> list[str]:
    """One message per relative link or image of ``page`` whose file or anchor does not exist."""
    problems = []
    for target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {linked.name}")
    return problems


def shown_commands(page: Path) -> list[str]:
    """The command lines a page shows: code lines and inline spans that start with a vclf command (after ``$ `` too)."""
    prose, code = split_code(page.read_text())
    candidates = [line.strip() for line in code] + inline_spans(prose)
    return [line for line in (re.sub(r"^\$\s+", "", c) for c in candidates) if line.split(" ", 1)[0] in COMMANDS]


def makefile_commands(makefile: Path) -> list[str]:
    """The vclf command lines the Makefile's recipes run (``$(BIN)/vclf-train ...``)."""
    lines = []
    for line in makefile.read_text().splitlines():
        if line.startswith("\t"):
            command = re.sub(r"^\$\(BIN\)/", "", line.strip())
            if command.split(" ", 1)[0] in COMMANDS:
                lines.append(command)
    return lines


def words(line: str) -> list[str]:
    """A shown command line as words, its ``# comment`` left out."""
    try:
        return shlex.split(line, comments=True)
    except ValueError:
        return line.split("#", 1)[0].split()


def option_names(command: click.Command) -> set[str]:
    """Every ``--name`` a click command accepts, ``--help`` and the off side of ``--a/--no-a`` flags included."""
    names = set()
    for param in command.get_params(click.Context(command)):
        if isinstance(param, click.Option):
            names.update(param.opts + param.secondary_opts)
    return names


def entry_points() -> dict[str, click.Command]:
    """The three installed commands' click objects, imported, not run."""
    from vclf.export.cli import main as export
    from vclf.export.train_commands import main as train
    from vclf.runtime.cli.main import main as run

    return {"vclf-run": run, "vclf-train": train, "vclf-export": export}


def command_problems(line: str, commands: dict[str, click.Command]) -> list[str]:
    """What is wrong with a shown command line: an unknown subcommand or an option its command does not define."""
    tokens = words(line)
    name, command, rest = tokens[0], commands[tokens[0]], tokens[1:]
    if isinstance(command, click.Group):
        sub = next((token for token in rest if not token.startswith("-")), None)
        if sub is None:  # the group named alone, or with --help
            return _unknown(line, rest, command, name)
        found = command.get_command(click.Context(command), sub)  # get_command: a lazily loading group works too
        if found is None:
            return [f"{line}: {name} has no subcommand {sub!r}"]
        name, command = f"{name} {sub}", found
    return _unknown(line, rest, command, name)


def _unknown(line: str, tokens: list[str], command: click.Command, name: str) -> list[str]:
    shown = {option for token in tokens for option in OPTION.findall(token) if token.lstrip("[(|").startswith("--")}
    return [f"{line}: {name} has no option {option}" for option in sorted(shown - option_names(command))]


def all_option_names(commands: dict[str, click.Command]) -> set[str]:
    """Every option of the three commands and of vclf-train's subcommands."""
    names = set()
    for command in commands.values():
        names |= option_names(command)
        if isinstance(command, click.Group):
            context = click.Context(command)
            for sub in command.list_commands(context):
                names |= option_names(command.get_command(context, sub))
    return names


def options_named_alone(page: Path) -> set[str]:
    """The ``--options`` of inline spans that start with one (``--smooth N``, ``--display/--no-display``)."""
    return {name for span in inline_spans(split_code(page.read_text())[0]) if span.startswith("--") for name in OPTION.findall(span)}


def linked_files(page: Path) -> set[Path]:
    """The files a page's relative links and images point at."""
    paths = (target.partition("#")[0] for target in relative_links(page))
    return {(page.parent / path).resolve() for path in paths if path}


def make_targets(makefile: Path) -> set[str]:
    """The Makefile's targets, simple ``$(VAR)`` names expanded."""
    text = makefile.read_text()
    variables = dict(re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)\s*[:?]?=\s*(.*?)\s*$", text, re.M))

    def expand(name: str) -> str:
        for _ in range(5):
            name = re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: variables.get(m.group(1), m.group(0)), name)
        return name

    targets = set()
    for line in text.splitlines():
        match = re.match(r"^([^\s#=:][^=:]*?):(?!=)", line)
        if match:
            targets.update(expand(name) for name in match.group(1).split())
    return targets


def shown_make_targets(page: Path) -> Iterator[str]:
    """Every ``make TARGET`` a page shows, in code blocks or inline code."""
    prose, code = split_code(page.read_text())
    for line in [line.strip() for line in code] + inline_spans(prose):
        match = MAKE.match(re.sub(r"^\$\s+", "", line))
        if match:
            yield match.group(1)


@pytest.mark.parametrize("page", markdown_pages(), ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_and_image_resolves_to_a_file_and_heading(page):
    assert broken_links(page) == []


def test_every_command_shown_in_readme_docs_and_makefile_exists_with_the_options_shown():
    commands = entry_points()
    lines = [line for page in markdown_pages() for line in shown_commands(page)] + makefile_commands(ROOT / "Makefile")
    assert len(lines) > 30, "the pages show commands; finding so few means the parser broke"
    assert [problem for line in lines for problem in command_problems(line, commands)] == []


def test_every_option_named_alone_in_the_pages_is_an_option_of_a_vclf_command():
    other_tools = {"--no-deps"}  # pip's, in the slim installs
    known = all_option_names(entry_points()) | other_tools
    named = {(page.name, name) for page in markdown_pages() for name in options_named_alone(page)}
    assert len(named) > 30, "the pages name options; finding so few means the parser broke"
    assert sorted((page, name) for page, name in named if name not in known) == []


def test_every_docs_page_is_linked_from_the_readme_and_every_docs_image_is_shown():
    readme = ROOT / "README.md"
    pages = set(markdown_pages()) - {readme}
    assert sorted(page.name for page in pages - linked_files(readme)) == []
    shown = set().union(*(linked_files(page) for page in markdown_pages()))
    assert sorted(image.name for image in (ROOT / "docs").glob("*.png") if image.resolve() not in shown) == []


def test_every_make_target_shown_exists_in_the_makefile():
    targets = make_targets(ROOT / "Makefile")
    shown = {(page.name, target) for page in markdown_pages() for target in shown_make_targets(page)}
    assert {"demo", "test", "bench"} <= {target for _, target in shown}
    assert sorted((name, target) for name, target in shown if target not in targets) == []


def test_a_missing_file_a_missing_anchor_and_a_good_link_are_told_apart(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "live.md").write_text("# Live\n\n## Watching from another machine: `--serve`\n\n## Events\n\n## Events\n")
    (tmp_path / "docs" / "pic.png").write_bytes(b"\x89PNG")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/live.md#watching-from-another-machine---serve) [dup](docs/live.md#events-1) ![pic](docs/pic.png)\n"
        "[gone](docs/ray.md) [no heading](docs/live.md#ray) ![no pic](docs/missing.png) [web](https://docs.ray.io)\n"
        "`[not a link](nowhere.md)`\n```\n[nor this](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "README.md: docs/ray.md: no such file",
        "README.md: docs/live.md#ray: no heading #ray in live.md",
        "README.md: docs/missing.png: no such file",
    ]


def test_a_made_up_option_or_subcommand_is_reported_and_real_ones_are_not():
    @click.command()
    @click.option("--model")
    @click.option("--display/--no-display", default=True)
    def run(model, display):
        """A stand-in for vclf-run."""

    @click.group()
    def train():
        """A stand-in for vclf-train."""

    @train.command()
    @click.option("--out")
    def fit(out):
        """A stand-in for fit."""

    commands = {"vclf-run": run, "vclf-train": train, "vclf-export": run}
    assert command_problems("vclf-run clip.avi --model b --no-display --help   # --not-checked in a comment", commands) == []
    assert command_problems("vclf-train fit data/ --out runs/a [--out DIR]", commands) == []
    assert command_problems("vclf-run clip.avi --modle b", commands) == ["vclf-run clip.avi --modle b: vclf-run has no option --modle"]
    assert command_problems("vclf-train fti data/", commands) == ["vclf-train fti data/: vclf-train has no subcommand 'fti'"]
    assert command_problems("vclf-train fit data/ --epochs 3", commands) == [
        "vclf-train fit data/ --epochs 3: vclf-train fit has no option --epochs"
    ]


def test_make_targets_expand_variables_and_a_missing_target_is_not_one(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text(
        "VENV := .venv\nINSTALLED := $(VENV)/.installed\n.PHONY: demo\n$(INSTALLED): x\n\ttouch $@\ndemo: $(INSTALLED)\n\techo\n"
    )
    assert {"demo", ".venv/.installed"} <= make_targets(makefile)
    assert "soak" not in make_targets(makefile)
