"""The command line: ``ghosts-render --turns 2000`` renders; subcommands check, rebuild, export.

Parse, load the config, call one function. ``_Commands.invoke`` is the one place that turns a
GhostsError into one line on stderr and exit status 1, and that sets up logging for the length
of one invocation (and puts the package logger back afterwards). Heavy modules (torch,
transformers) are imported inside commands so ``--help`` is instant.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ghosts_render import __version__
from ghosts_render.errors import ConfigError, GhostsError
from ghosts_render.render.selfies import NOISE_MODES

log = logging.getLogger("ghosts_render")
# The selfie command's --noise-mode choices, made from the one list of modes.
NoiseMode = enum.StrEnum("NoiseMode", {m: m for m in NOISE_MODES})  # type: ignore[misc]
DEFAULT_NOISE_MODE = NoiseMode("const")


@contextlib.contextmanager
def _logging_to_stderr(verbose: bool, quiet: bool) -> Iterator[None]:
    """Log the package's messages to stderr as ``ghosts-render: …``; restore the logger after."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    before = (log.handlers[:], log.level, log.propagate)
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False
    try:
        yield
    finally:
        log.handlers[:], log.propagate = before[0], before[2]
        log.setLevel(before[1])


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        return f"ghosts-render: {prefix}{record.getMessage()}"


class _Commands(TyperGroup):
    """Runs the render or a subcommand with logging set up; a GhostsError becomes one line."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click.Context
        params = ctx.params
        with _logging_to_stderr(bool(params.get("verbose")), bool(params.get("quiet"))):
            try:
                return super().invoke(ctx)
            except GhostsError as e:
                typer.echo(f"ghosts-render: error: {e}", err=True)
                raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Commands,
    add_completion=False,
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Render an AI chat performance once into a folder that plays back anywhere, offline.\n\n"
    "With no subcommand, renders: `ghosts-render --turns 2000` reads ./ghosts.toml if present "
    "(else the defaults and the bundled demo models) and writes output/.",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ghosts-render {__version__}")
        raise typer.Exit()


def _default_config(config: Path | None) -> Path | None:
    if config is not None:
        return config
    default = Path("ghosts.toml")
    return default if default.is_file() else None


@app.callback()
def render(
    ctx: typer.Context,
    turns: Annotated[
        int,
        typer.Option(help="Messages to render, 1 to 100000 (2000 ≈ 9-11 hours, by length)."),
    ] = 2000,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML config file. Default: ./ghosts.toml when it exists."),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output folder for the archive.")] = Path("output"),
    seed: Annotated[
        int | None, typer.Option(help="Seed for every random draw (overrides the config's).")
    ] = None,
    device: Annotated[
        str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default: the config's, auto).")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Discard an unfinished render instead of resuming it.")
    ] = False,
    voices: Annotated[
        bool,
        typer.Option(
            "--voices",
            help="Read every message aloud (sets [voices] enabled; needs ghosts-render[voices]).",
        ),
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the resolved config and plan; load and write nothing."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log more detail.")] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", help="Only warnings and errors; no progress bars.")
    ] = False,
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Render the conversation archive (the default command)."""
    if ctx.invoked_subcommand is not None:
        return
    from ghosts_render.config import load_config

    cfg = load_config(
        _default_config(config), turns=turns, seed=seed, device=device, voices=voices or None
    )
    if dry_run:
        from ghosts_render.render.dryrun import describe_plan

        typer.echo(describe_plan(cfg, out))
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    from ghosts_render.render import pipeline

    with logging_redirect_tqdm(loggers=[log]):
        try:
            report = pipeline.run(cfg, out, fresh=fresh, quiet=quiet)
        except KeyboardInterrupt:  # Ctrl-C: the work folder keeps every finished step
            typer.echo("ghosts-render: interrupted: run the same command again to resume", err=True)
            raise typer.Exit(130) from None
    _summarise(report)
    typer.echo(str(report.out))


def _summarise(report) -> None:
    if report.already_done:
        return
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    log.info(
        "rendered %d messages, %d selfies, %d sounds%s%s (%s)",
        report.messages,
        report.selfies,
        report.sounds,
        f", {report.voices} voiced" if report.voices else "",
        ", resumed" if report.resumed else "",
        timings,
    )


@app.command()
def site(
    archive: Annotated[Path, typer.Argument(help="An archive folder (holds conversation.json).")],
    keep_times: Annotated[
        bool | None,
        typer.Option(
            "--keep-times/--replan",
            help="Keep the times conversation.json holds (an archive timed by hand), now and in "
            "later rebuilds; --replan times the messages from their texts again. Default: "
            "re-plan, unless the archive was rebuilt with --keep-times.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Re-plan the timing from the texts and rebuild the player from an archive's (possibly
    edited) conversation.json; no models."""
    from ghosts_render.archive.rebuild import rebuild_site
    from ghosts_render.curate.history import recover_interrupted

    recover_interrupted(archive)  # a curation step a crash interrupted: finished or rolled back
    rebuild_site(archive, keep_times=keep_times)
    typer.echo(str(archive))


@app.command()
def check(
    archive: Annotated[Path, typer.Argument(help="An archive folder (holds conversation.json).")],
    blocklist: Annotated[
        Path | None,
        typer.Option(
            help="Also list every message that matches this blocklist (id, sender, term; "
            "exit 1 if any does). Format: docs/configuration.md, Blocklist."
        ),
    ] = None,
) -> None:
    """Validate an archive: schema, every referenced file, and the manifest's hashes."""
    from ghosts_render.archive.check import check_archive, list_blocked_messages

    notes = check_archive(archive)
    for note in notes:
        log.info("%s", note)
    if blocklist is not None:
        found = list_blocked_messages(archive, blocklist)
        for message in found:
            typer.echo(f"{message.id}\t{message.sender}\t{message.term}")
        if found:
            typer.echo(
                f"ghosts-render: {len(found)} message(s) of {archive} match the blocklist "
                f"{blocklist}: edit or delete them, then check again",
                err=True,
            )
            raise typer.Exit(1)
        log.info("no message matches the blocklist %s", blocklist)
    typer.echo(f"{archive}: ok")


@app.command()
def preview(
    archive: Annotated[Path, typer.Argument(help="An archive folder (holds index.html).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8000,
) -> None:
    """Serve an archive on 127.0.0.1 and print its URL (Ctrl-C stops)."""
    from ghosts_render.archive.preview import serve

    serve(archive, port, announce=typer.echo)


@app.command()
def selfie(
    network: Annotated[Path, typer.Argument(help="Network pickle (.pkl) or exported network.")],
    seeds: Annotated[
        str, typer.Option(help="Seeds, e.g. 0-3 or 1,5,7-9 (0 to 2**32-1, at most 100000).")
    ] = "0-3",
    trunc: Annotated[float, typer.Option(help="Truncation psi (1.0 = none).")] = 1.0,
    class_idx: Annotated[
        int | None,
        typer.Option("--class", help="Class label of a conditional network (required for one)."),
    ] = None,
    noise_mode: Annotated[
        NoiseMode, typer.Option(help="StyleGAN2 noise inputs.")
    ] = DEFAULT_NOISE_MODE,
    out: Annotated[Path, typer.Option(help="Folder for seedNNNN.png files.")] = Path("selfies"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Render seedNNNN.png images from a network, as NVIDIA's gen_images.py names them."""
    import math

    from ghosts_render.render.pipeline import resolve_device
    from ghosts_render.render.selfies import stylegan

    if not math.isfinite(trunc):
        raise ConfigError(f"--trunc must be a number such as 0.7 or 1.0, got {trunc}")
    seed_list = stylegan.parse_seeds(seeds)
    paths = stylegan.write_seed_images(
        network,
        seed_list,
        trunc,
        noise_mode,
        out,
        device=resolve_device(device),
        class_idx=class_idx,
    )
    for path in paths:
        typer.echo(str(path))


@app.command()
def export(
    network: Annotated[Path, typer.Argument(help="Network pickle (.pkl) to convert.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="FILE.safetensors to write (FILE.json goes beside it). "
            "Default: beside NETWORK, with its name."
        ),
    ] = None,
) -> None:
    """Convert a network pickle to FILE.safetensors + FILE.json, which load with no pickle."""
    from ghosts_render.render.selfies.stylegan import load_network
    from ghosts_render.render.selfies.stylegan.export import export_paths, write_exported

    paths = export_paths(network.with_suffix(".safetensors") if out is None else out)
    taken = [str(p) for p in paths if p.exists()]
    if taken:
        raise ConfigError(
            f"--out: {' and '.join(taken)} already exist(s); choose another --out or move "
            "the file away (nothing was written)"
        )
    write_exported(load_network(network, "cpu"), paths[0])
    for path in paths:
        typer.echo(str(path))


@app.command()
def bench(
    turns: Annotated[int, typer.Option(help="Messages for the text benchmark.")] = 200,
    selfies: Annotated[int, typer.Option(help="Selfies for the selfie benchmark.")] = 8,
    model: Annotated[
        Path | None, typer.Option(help="Text model folder (default: the demo model).")
    ] = None,
    network: Annotated[
        Path | None, typer.Option(help="Selfie network (default: the demo network).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed for both sides.")] = 0,
) -> None:
    """Benchmark the batched stages against the original's one-at-a-time loop, side by side."""
    from ghosts_render.bench import run_bench

    for line in run_bench(
        turns=turns, selfies=selfies, model=model, network=network, device=device, seed=seed
    ):
        typer.echo(line)


def main() -> None:
    """Entry point of the ``ghosts-render`` console script."""
    app()


from ghosts_render import cli_curate  # noqa: E402, F401  (registers the curation verbs on app)
