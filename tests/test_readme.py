"""Claim: the README is true: its Python examples run as written and its
Quickstart test command is the one `.ci/run` executes."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_examples_run(capsys):
    """Every ```python block of the README executes without error."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert "0.5524" in capsys.readouterr().out


def test_nn_stay_verdict_is_the_quick_presets(tmp_path):
    """The nn_stay sentence the README quotes is the one the quick preset's summary
    computes (rerun here: it changes when the data do)."""
    from sim.studies import nn_stay, preset, read_summary, run

    folder = run(nn_stay.STUDY, preset(nn_stay.Config, "quick"), out=tmp_path, quiet=True)
    assert f"> {nn_stay.verdict(read_summary(folder))}" in README


def test_network_sentences_are_the_quick_presets(tmp_path):
    """The Table 1 and Figure 1 sentences the README quotes are the ones their quick
    presets compute (rerun here), each recomputed from the summary's numbers by the
    study's rule."""
    from sim.studies import nn_escape, nn_sharpness, preset, read_summary, run

    sh = read_summary(run(nn_sharpness.STUDY, preset(nn_sharpness.Config, "quick"),
                          out=tmp_path, quiet=True))
    assert sh["sentence"] == nn_sharpness.sentence(nn_sharpness.pattern(sh["by_eta"]))
    assert f"> {sh['sentence']}" in README
    es = read_summary(run(nn_escape.STUDY, preset(nn_escape.Config, "quick"), out=tmp_path,
                          quiet=True))
    assert es["sentence"] == nn_escape.sentence(es["gd"], es["by_B"], es["eta"])
    assert f"> {es['sentence']}" in README


def _quickstart_commands() -> list[str]:
    """The indented command lines of the README's Quickstart section, in order."""
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return [line.strip() for line in section.splitlines() if line.startswith("    ")]


def test_ci_runs_readme_test_command():
    """The last command .ci/run executes is the README Quickstart's test command (the
    one after the main job), word for word."""
    commands = _quickstart_commands()
    assert len(commands) == 2, commands
    main_job, tests = commands
    assert "scripts/reproduce.py" in main_job and "pytest" in tests
    lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    executed = [ln for ln in lines if ln and not ln.startswith("#")
                and not ln.startswith(("set ", "cd ", "export "))]
    assert executed and executed[-1] == tests


def test_listed_commands_parse(monkeypatch):
    """Every `python scripts/<name>.py ...` command in the README parses: its options exist
    and its values are valid (the scripts themselves are run by tests/test_scripts.py).
    The README's scheduler address is a placeholder (``tcp://HOST:8786``), so its
    reachability check is replaced here (tests/test_reliability_cli.py tests it)."""
    import shlex

    from scripts_loader import module_of
    from sim.studies import cli
    from sim.studies.cli import parse_config

    monkeypatch.setattr(cli, "check_scheduler", lambda address, name: None)

    commands = re.findall(r"python3? scripts/(\w+)\.py([^`\n]*)", README)
    assert len(commands) >= 8
    for name, rest in commands:
        argv = shlex.split(rest.split("#")[0])
        if argv == ["--help"]:
            continue
        mod = module_of(name)
        config = mod.Config if name == "reproduce" else mod.STUDY.config
        serial = False if name == "reproduce" else mod.STUDY.serial_only
        parse_config(name, config, argv, serial_only=serial)


def test_listed_module_commands_parse():
    """Every `python -m sim.studies <name> ...` command in the README names a package
    study, and its options parse."""
    import importlib
    import shlex

    from sim.studies.cli import STUDIES, parse

    commands = re.findall(r"python3? -m sim\.studies (\w+)([^`\n]*)", README)
    assert commands
    for name, rest in commands:
        assert name in STUDIES, name
        study = importlib.import_module(f"sim.studies.{name}").STUDY
        parse(study, shlex.split(rest.split("#")[0]))
