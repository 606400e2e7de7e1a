"""The command line: ``ghosts-render --turns 2000`` renders; subcommands rebuild, preview, bench.

Parse, load the config, call one function, and turn a GhostsError into one line on stderr and
exit status 1. Heavy modules (torch, transformers) are imported inside commands so ``--help`` is
instant.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from ghosts_render import __version__
from ghosts_render.errors import GhostsError

app = typer.Typer(
    add_completion=False,
    invoke_without_command=True,
    no_args_is_help=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    help="Render an AI chat performance once into a folder that plays back anywhere, offline.\n\n"
    "With no subcommand, renders: `ghosts-render --turns 2000` reads ./ghosts.toml if present "
    "(else the defaults and the bundled demo models) and writes output/.",
)

log = logging.getLogger("ghosts_render")


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    root = logging.getLogger("ghosts_render")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "warning: " if record.levelno >= logging.WARNING else ""
        return f"ghosts-render: {prefix}{record.getMessage()}"


def _fail(error: GhostsError) -> typer.Exit:
    typer.echo(f"ghosts-render: error: {error}", err=True)
    return typer.Exit(1)


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
        int, typer.Option(help="Messages to render (2000 ≈ 9-11 hours, by message length).")
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
    _setup_logging(verbose, quiet)
    if ctx.invoked_subcommand is not None:
        return
    from ghosts_render.config import load_config

    try:
        cfg = load_config(_default_config(config), turns=turns, seed=seed, device=device)
        if dry_run:
            from ghosts_render.render.dryrun import describe_plan

            typer.echo(describe_plan(cfg, out))
            return
        from tqdm.contrib.logging import logging_redirect_tqdm

        from ghosts_render.render import pipeline

        with logging_redirect_tqdm(loggers=[logging.getLogger("ghosts_render")]):
            report = pipeline.run(cfg, out, fresh=fresh, quiet=quiet)
    except GhostsError as e:
        raise _fail(e) from None
    _summarise(report)
    typer.echo(str(report.out))


def _summarise(report) -> None:
    if report.already_done:
        return
    timings = ", ".join(f"{k} {v:.1f}s" for k, v in report.seconds.items())
    log.info(
        "rendered %d messages, %d selfies, %d sounds%s (%s)",
        report.messages,
        report.selfies,
        report.sounds,
        ", resumed" if report.resumed else "",
        timings,
    )


@app.command()
def site(
    archive: Annotated[Path, typer.Argument(help="An archive folder (holds conversation.json).")],
) -> None:
    """Rebuild the player from an archive's (possibly edited) conversation.json; no models."""
    from ghosts_render.archive.rebuild import rebuild_site

    try:
        rebuild_site(archive)
    except GhostsError as e:
        raise _fail(e) from None
    typer.echo(str(archive))


@app.command()
def check(
    archive: Annotated[Path, typer.Argument(help="An archive folder (holds conversation.json).")],
) -> None:
    """Validate an archive: schema, every referenced file, and the manifest's hashes."""
    from ghosts_render.archive.check import check_archive

    try:
        notes = check_archive(archive)
    except GhostsError as e:
        raise _fail(e) from None
    for note in notes:
        log.info("%s", note)
    typer.echo(f"{archive}: ok")


@app.command()
def preview(
    archive: Annotated[Path, typer.Argument(help="An archive folder (holds index.html).")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0 = any free port).")] = 8000,
) -> None:
    """Serve an archive on 127.0.0.1 and print its URL (Ctrl-C stops)."""
    from ghosts_render.archive.preview import serve

    try:
        serve(archive, port, announce=typer.echo)
    except GhostsError as e:
        raise _fail(e) from None


@app.command()
def selfie(
    network: Annotated[Path, typer.Argument(help="Network pickle (.pkl) or exported network.")],
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0-3 or 1,5,7-9.")] = "0-3",
    trunc: Annotated[float, typer.Option(help="Truncation psi (1.0 = none).")] = 1.0,
    noise_mode: Annotated[str, typer.Option(help="const, random or none.")] = "const",
    out: Annotated[Path, typer.Option(help="Folder for seedNNNN.png files.")] = Path("selfies"),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
) -> None:
    """Render seedNNNN.png images from a network, as NVIDIA's gen_images.py names them."""
    from ghosts_render.errors import ConfigError
    from ghosts_render.render.pipeline import resolve_device
    from ghosts_render.render.selfies import stylegan

    try:
        if noise_mode not in ("const", "random", "none"):
            raise ConfigError(f"--noise-mode must be const, random or none, got {noise_mode!r}")
        seed_list = stylegan.parse_seeds(seeds)
        paths = stylegan.write_seed_images(
            network, seed_list, trunc, noise_mode, out, device=resolve_device(device)
        )
    except GhostsError as e:
        raise _fail(e) from None
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

    try:
        for line in run_bench(
            turns=turns, selfies=selfies, model=model, network=network, device=device, seed=seed
        ):
            typer.echo(line)
    except GhostsError as e:
        raise _fail(e) from None


def main() -> None:
    """Entry point of the ``ghosts-render`` console script."""
    app()
