"""``spendwatch playbooks``: check the playbook folder, and ask which playbook an anomaly gets.

``check`` reads every file the bot would read, the way it reads them, and prints every
problem as ``file:line: key: problem`` (the form editors and CI logs turn into links), so a
platform team hears about a typo in a match rule before a responder clicks "Start playbook".
``which`` answers "why did this alert get that playbook?" from the same pure choice the bot
makes, with the reason each other playbook was passed over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.anomaly.levers import category_for
from bot.anomaly.service import playbooks_folder
from bot.chat.console.render import console
from bot.cli_errors import say
from bot.cli_options import ConfigOption
from bot.playbook import PlaybookError, Problem, load_playbook, load_playbooks
from bot.playbook.library import PlaybookLibrary
from bot.playbook.match import ANOMALY_KINDS, PHASES, AnomalyFacts
from bot.playbook.schema import Playbook
from bot.settings import load_settings

__all__ = ["playbooks_app"]

playbooks_app = typer.Typer(help="Playbooks: check the folder, and which one an anomaly gets.",
                            no_args_is_help=True)

DirOption = Annotated[Path | None, typer.Option(
    "--dir", help="The playbook folder (default: playbooks_dir of the config, "
                  "$SPENDWATCH_PLAYBOOKS, else the shipped playbooks).")]


def _folder(folder: Path | None, config: Path | None) -> Path:
    return folder if folder is not None else playbooks_folder(load_settings(config))


def format_problem(problem: Problem) -> str:
    """``file:line: key: problem``; the line and key are left out where there is none."""
    where = f"{problem.file}:{problem.line}" if problem.line else problem.file
    return ": ".join(part for part in (where, problem.key, problem.message) if part)


def _load(folder: Path) -> tuple[PlaybookLibrary, dict[str, Path]]:
    """The library and each playbook's file; PlaybookError with every problem of them all."""
    library = PlaybookLibrary(load_playbooks(folder))
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix in (".yml", ".yaml") and path.is_file():
            files[load_playbook(path).name] = path
    return library, files


def _fail(problems: list[Problem]) -> typer.Exit:
    for problem in problems:
        say(format_problem(problem), label=False)
    count = len(problems)
    say(f"{count} problem{'s' if count != 1 else ''}; the bot refuses to start until they are "
        "fixed (docs/playbooks.md).", label=False)
    return typer.Exit(1)


def _rule(playbook: Playbook, library: PlaybookLibrary) -> str:
    if playbook.match is not None:
        return playbook.match.describe()
    if playbook is library.default:
        return "(none: the default, chosen when no rule holds)"
    return "(none: never chosen by a rule)"


@playbooks_app.command("check")
def check(folder: DirOption = None, config: ConfigOption = None) -> None:
    """Validate every playbook; list each with its match rule, or every problem (exit 1)."""
    where = _folder(folder, config)
    try:
        library, files = _load(where)
    except PlaybookError as exc:
        raise _fail(exc.problems) from None
    if library.default.match is not None:
        raise _fail([Problem(str(where), None, "", (
            "no default playbook: every playbook has a match rule, so an anomaly no rule fits "
            "would get one meant for other spend; add default.yml without `match:`"))])
    table = Table(title=f"{len(library)} playbooks in {where}", title_justify="left")
    for column in ("playbook", "file", "match rule", "keys", "steps", "levers"):
        table.add_column(column, overflow="fold")
    order = sorted(library.values(), key=lambda p: (
        p is library.default, -(p.match.specificity if p.match else 0), p.name))
    for playbook in order:
        table.add_row(playbook.name, files[playbook.name].name, _rule(playbook, library),
                      str(playbook.match.specificity if playbook.match else 0),
                      str(len(playbook.steps)), str(len(playbook.levers)))
    console.print(table)
    console.print("The most specific rule that holds wins (most keys; a tie goes to the name "
                  "that sorts first); the default comes last.", highlight=False)


@playbooks_app.command("which")
def which(
    project: Annotated[str, typer.Option(help="The anomaly's project.")],
    environment: Annotated[str, typer.Option(help="The anomaly's environment.")],
    kind: Annotated[str, typer.Option(help="spike, level-shift, new-spend, off-hours, ramp.")],
    category: Annotated[str, typer.Option(
        help="FOCUS ServiceCategory of the top contributor, e.g. 'AI and Machine Learning'.")] = "",
    phase: Annotated[str, typer.Option(help="build, run or move.")] = "run",
    service: Annotated[str, typer.Option(
        help="The top contributor's service name (tells LLM tokens from GPUs).")] = "",
    unit: Annotated[str, typer.Option(help="Its usage unit, e.g. Tokens or Hours.")] = "",
    folder: DirOption = None,
    config: ConfigOption = None,
) -> None:
    """The playbook an anomaly with these facts gets, and why."""
    for option, value, known in (("--kind", kind, ANOMALY_KINDS), ("--phase", phase, PHASES)):
        if value not in known:
            raise typer.BadParameter(f"{value!r} is unknown; use one of: {', '.join(known)}",
                                     param_hint=option)
    try:
        library, _ = _load(_folder(folder, config))
    except PlaybookError as exc:
        raise _fail(exc.problems) from None
    spend = category_for(service_name=service, service_category=category, usage_unit=unit).value
    facts = AnomalyFacts(project=project, environment=environment, phase=phase, kind=kind,
                         cost_category=category, spend=spend)
    choice = library.explain(facts)
    console.print(f"{choice.playbook.name}: {choice.playbook.title}", highlight=False)
    console.print(f"  why: {choice.reason}", highlight=False)
    console.print(f"  facts: cost_category={category or '(none)'} spend={spend} kind={kind} "
                  f"phase={phase} project={project} environment={environment}",
                  highlight=False, soft_wrap=True)
    for name, why in choice.passed_over:
        console.print(f"  not {name}: {why}", highlight=False)
