"""Claim: every script the README lists is a thin use of sim.studies: it answers --help
with the common options, rejects every bad value of every option with exit code 2
(values generated from its config record), runs end to end in a tiny mode and writes a
complete results folder whose numbers match the library's. Every package study also
runs as ``python -m sim.studies NAME``."""

import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sim
from scripts_loader import SCRIPT_ONLY, load_script, module_of
from sim.nonlinear_toy import reference
from sim.studies import preset, read_csv, read_summary, run
from sim.studies.cli import STUDIES, parse_config
from sim.studies.config import has_preset, spec

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.stem for p in (ROOT / "scripts").glob("*.py"))
COMMON = ["--out", "--seed", "--quick", "--full", "--executor", "--workers", "--scheduler"]


def _config_of(name):
    mod = module_of(name)
    if name == "reproduce":
        return mod.Config, False
    return mod.STUDY.config, mod.STUDY.serial_only


def bad_values(config) -> list[tuple[list[str], str]]:
    """``(argv, option)`` pairs that must be rejected, generated from the record's
    field types and metadata: wrong type, NaN/inf, below the bounds, zero where
    positive, unknown choice, and bad run options."""
    out = []
    for name, typ, elem, meta, _ in spec(config):
        flag = "--" + name.replace("_", "-")
        base = elem if typ is tuple else typ
        values = []
        if base is int:
            values += ["1.5", "abc"]
        elif base is float:
            values += ["nan", "inf", "-inf", "abc"]
        if base in (int, float):
            if meta.get("low") is not None:
                values.append(str(meta["low"] - 1))
            if meta.get("high") is not None:
                values.append(str(meta["high"] + 1))
            if meta.get("positive"):
                values += ["0", "-1"]
        if meta.get("choices"):
            values.append("bogus-choice")
        if typ is bool:
            values.append("=maybe")
        for v in values:
            out.append(([flag + v] if v.startswith("=") else [flag, v], flag))
        if typ is tuple:
            out.append(([flag], flag))  # no value at all
    out += [(["--workers", "0"], "--workers"), (["--workers", "-3"], "--workers"),
            (["--workers", "x"], "--workers"), (["--executor", "spark"], "--executor"),
            (["--seed", "-1"], "--seed"), (["--quick", "--full"], "--full")]
    return out


@pytest.mark.parametrize("script", SCRIPTS)
def test_help(script):
    """Every script answers --help with the study options and the common run options."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for opt in COMMON:
        assert opt in out.stdout, (script, opt)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_bad_value_is_a_usage_error(script, capsys):
    """Each bad value of each option exits with code 2 and a message naming the option
    (parsed in process; one per script also through a real subprocess)."""
    config, serial_only = _config_of(script)
    cases = bad_values(config)
    assert len(cases) >= 6
    for argv, flag in cases:
        with pytest.raises(SystemExit) as exc:
            parse_config(script, config, argv, serial_only=serial_only)
        assert exc.value.code == 2, (script, argv)
        err = capsys.readouterr().err
        assert flag in err or flag.lstrip("-").replace("-", "_") in err, (script, argv, err)
    argv, flag = cases[0]
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), *argv],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and flag in out.stderr and "Traceback" not in out.stderr


def test_every_option_gets_a_bad_value():
    """The generator of bad values skips no option: every field of every script's config
    but free text (a string without choices) gets at least one."""
    for script in SCRIPTS:
        config, _ = _config_of(script)
        flags = {flag for _, flag in bad_values(config)}
        for name, typ, elem, meta, _ in spec(config):
            free_text = (elem if typ is tuple else typ) is str and not meta.get("choices")
            assert free_text or "--" + name.replace("_", "-") in flags, (script, name)


def test_scripts_are_the_package_studies():
    """Every script is a package study or one of the scripts that use theory; each
    module of sim.studies that defines a STUDY is listed, and scripts/<name>.py runs
    sim.studies.<name>'s STUDY, named <name>."""
    assert sorted(SCRIPTS) == sorted([*STUDIES, *SCRIPT_ONLY])
    defined = [p.stem for p in (ROOT / "sim" / "studies").glob("*.py")
               if "\nSTUDY = Study(" in p.read_text()]
    assert sorted(defined) == sorted(STUDIES)
    for name in STUDIES:
        study = importlib.import_module(f"sim.studies.{name}").STUDY
        assert load_script(name).STUDY is study and study.name == name


def test_module_help_lists_every_study():
    """python -m sim.studies --help lists every package study, in order."""
    out = subprocess.run([sys.executable, "-m", "sim.studies", "--help"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    listing = out.stdout.split("studies:\n", 1)[1]
    assert re.findall(r"^  (\w+) ", listing, flags=re.M) == list(STUDIES)


def test_module_runs_a_study(tmp_path):
    """python -m sim.studies toy_example [options] runs the study with those options: it
    writes the complete folder its config names."""
    from sim.studies import toy_example

    out = subprocess.run([sys.executable, "-m", "sim.studies", "toy_example", "--etas", "0.5",
                          "0.7", "--runs", "50", "--steps", "200", "--path-steps", "20",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    cfg = preset(toy_example.Config, None, etas=(0.5, 0.7), runs=50, steps=200, path_steps=20)
    folder = toy_example.STUDY.folder(cfg, tmp_path)
    assert out.stdout.splitlines()[-1] == f"wrote {folder}"
    assert read_summary(folder)["study"] == "toy_example"
    assert (folder / "data.npz").is_file() and (folder / "escape_probability.png").is_file()


def test_presets_are_valid():
    """The --quick and --full presets of every script construct (validated), and so does
    --paper where a study offers it."""
    for script in SCRIPTS:
        config, _ = _config_of(script)
        for name in ("quick", "full"):
            preset(config, name)
        if has_preset(config, "paper"):
            preset(config, "paper")
    with pytest.raises(ValueError, match="preset"):
        preset(_config_of("toy_example")[0], "huge")
    reproduce = load_script("reproduce")
    for size in ("tiny", "quick", "full"):
        assert len(reproduce.study_configs(preset(reproduce.Config, None, size=size))) == 11


@pytest.mark.parametrize("script", ["nn_sharpness", "nn_diagram", "toy_example"])
def test_paper_preset_is_offered_where_defined(script):
    """--paper is an option of the studies with paper values (the paper's
    784-500-500-500-10 on 1000 images, 28x28 inputs; nn_diagram's SGD minima get exact
    thresholds up to n K = 10^4), and of no other."""
    config, _ = _config_of(script)
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    offered = has_preset(config, "paper")
    assert ("--paper" in out.stdout) == offered
    assert offered == (script != "toy_example")
    if offered:
        cfg = preset(config, "paper")
        assert (cfg.hidden, cfg.n, cfg.dataset) == ((500, 500, 500), 1000, "digits28")
        # GD only (nn_sharpness) needs no exact solve: eta_exact = 2/a
        assert getattr(cfg, "exact_max", 10_000) == 10_000
        net = module_of(script).net_of(cfg)
        assert net.widths == (784, 500, 500, 500, 10) and net.n_params == 898_510


def _study(name):
    return module_of(name).STUDY


def test_bench_linear_ranks_fit_the_data():
    """bench_linear's teacher nets take rank / 10 digits: a rank beyond the 13480 that
    the 1348 training images allow is a usage error naming the option, before any run."""
    config = _study("bench_linear").config
    assert preset(config, None, exact_ranks=(13480,)).exact_ranks == (13480,)
    for field, value in (("exact_ranks", (3000, 20000)), ("compare_rank", 13490)):
        with pytest.raises(ValueError, match=f"{field}: rank"):
            preset(config, None, **{field: value})


def test_bench_paper_gram_at_a_small_size():
    """bench_linear's paper-net timing, on a small net: the rank it reports is that of
    the reduced ensemble, at most n K, and the timings and memory are positive."""
    study = _study("bench_linear")
    bench = module_of("bench_linear")
    out = bench.bench_paper_gram(preset(study.config, "quick"), hidden=(20, 20), n=30)
    assert out["nK"] == 300 and 0 < out["rank"] <= 300 and out["p"] == 784 * 20 + 20 + 420 + 210
    assert out["gram_seconds"] > 0 and out["reduction_peak_gib"] > 0


def test_derive_conditions(tmp_path):
    """derive_conditions writes conditions.json/.md with the toy threshold 2a/(a^2 + s^2)."""
    study = _study("derive_conditions")
    folder = run(study, preset(study.config, None), out=tmp_path, quiet=True)
    for f in ("conditions.json", "conditions.md", "config.json", "meta.json", "summary.json"):
        assert (folder / f).is_file()
    data = json.loads((folder / "conditions.json").read_text())
    assert data["toy"]["max_stable_lr"] == pytest.approx(reference().eta_mean_square, rel=1e-12)
    assert "eta_max" in data["1-D conditions (without)"]
    assert read_summary(folder)["toy_max_stable_lr"] == data["toy"]["max_stable_lr"]


def test_monte_carlo_tiny(tmp_path):
    """monte_carlo writes data.csv, the stability map and summaries whose rho values are
    the library's spectral radii; decided Monte Carlo verdicts agree with rho."""
    from sim.studies import monte_carlo

    study = monte_carlo.STUDY
    cfg = preset(study.config, None, kind="prescribed", d=2, n=6, a=1.0, s=0.05, B=(1, 6),
                 ratios=(0.5, 1.5), steps=30, paths=512, fit_from=5)
    folder = run(study, cfg, out=tmp_path, quiet=True)
    for f in ("data.csv", "stability_map.png", "stability_map.pdf", "summary.md",
              "summary.json", "config.json", "meta.json"):
        assert (folder / f).is_file(), f
    rows = read_csv(folder / "data.csv")
    assert len(rows) == 4
    ens = monte_carlo.make_ensemble(cfg)
    for r in rows:
        rho = sim.spectral_radius(ens, r["eta"], r["B"]).rho
        assert r["rho"] == pytest.approx(rho, rel=1e-10)
        if r["mc_verdict"] != "undecided":
            assert (r["mc_verdict"] == "stable") == (rho <= 1)
        if r["clone_verdict"] != "undecided":
            assert (r["clone_verdict"] == "stable") == (rho <= 1)
    summary = read_summary(folder)
    assert summary["points"] == 4 and summary["clone_undecided"] == 0


def test_toy_example_tiny(tmp_path):
    """toy_example writes data, four figures and a summary with the exact thresholds."""
    import numpy as np

    study = _study("toy_example")
    folder = run(study, preset(study.config, None, etas=(0.5, 0.7), runs=100, steps=500),
                 out=tmp_path, quiet=True)
    for f in ("data.npz", "thresholds.json", "summary.md", "landscape.png", "paths.png",
              "escape_probability.png", "escape_times.png", "escape_times.pdf"):
        assert (folder / f).is_file(), f
    summary = (folder / "summary.md").read_text()
    ref = reference()
    for value in (ref.eta_mean_square, ref.eta_almost_sure):
        assert f"| {value:.4f} | {value:.4f} |" in summary
    data = np.load(folder / "data.npz")
    assert data["gd_escape_prob"].max() == 0.0
    assert data["sgd_escape_prob"][0] == 0.0 and data["sgd_escape_prob"][1] == 1.0


def test_diagram_tiny(tmp_path):
    """diagram writes the two figures and per-ensemble verdicts equal to sim.report's;
    no ensemble meets the theorem's condition while unstable."""
    from sim.studies import diagram

    study = diagram.STUDY
    cfg = preset(study.config, None, ensembles=30)
    folder = run(study, cfg, out=tmp_path, quiet=True)
    for f in ("data.csv", "diagram.png", "overlay.png", "summary.md"):
        assert (folder / f).is_file(), f
    rows = read_csv(folder / "data.csv")
    ensembles = list(diagram.all_ensembles(cfg))
    assert len(rows) == len(ensembles) == 30
    for r, ens in zip(rows, ensembles, strict=True):
        rep = sim.report(ens, cfg.eta, cfg.B_fixed)
        assert r["rho"] == pytest.approx(rep.rho, rel=1e-10)
        assert r["stable"] == rep.stable["exact"] and r["box"] == rep.box
        assert not (r["theorem"] and not r["stable"])


@pytest.mark.parametrize("name", ["bench_linear", "bench_mlp", "bench_torch"])
def test_benchmarks_quick(tmp_path, name):
    """The benchmarks run in their quick preset and write their tables (timings are
    reported, not asserted); bench_mlp's curvature agrees with its dense reference, and
    bench_torch's a and s agree with theirs to the 1e-6 the eigensolvers are asked for."""
    if name == "bench_torch":
        pytest.importorskip("torch")
    study = _study(name)
    folder = run(study, preset(study.config, "quick"), out=tmp_path, quiet=True)
    summary = read_summary(folder)
    assert (folder / "data.csv").is_file() and (folder / "summary.md").is_file()
    if name == "bench_mlp":
        assert summary["sigma"]["ours_rel_err"] < 1e-8
        assert summary["threshold"]["eta_exact"] <= summary["threshold"]["eta_gd"]
    elif name == "bench_torch":
        for quantity in ("a", "s"):
            for method in ("ours", "ours_explicit"):
                assert summary[quantity][method]["rel_err"] < 1e-6, (quantity, method)
        for row in summary["thresholds"]["by_B"].values():
            assert row["eta_exact"] <= row["eta_gd"] * (1 + 1e-10)
    else:
        assert "vs plain numba" in (folder / "summary.md").read_text()
        # each solved to 1e-10 relative (lean by an error estimate): at most 2e-10 apart
        assert summary["compare"]["lean_vs_eigsh_rel"] < 3e-10
        for row in summary["exact"]:
            assert 0 < row["rank"] <= row["nK"] and 0 < row["lean_eta_exact"] < np.inf
    with pytest.raises(ValueError, match="serially only"):
        run(study, preset(study.config, "quick"), out=tmp_path, executor="dask", quiet=True)


def test_reproduce_tiny(tmp_path):
    """reproduce runs every study and writes REPORT.md from their summary.json: every
    figure exists and the toy threshold is the library's."""
    import re

    reproduce = load_script("reproduce")
    path = reproduce.main(["--size", "tiny", "--out", str(tmp_path), "--quiet"])
    text = path.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == sum(len(f) for f in reproduce.DOCS_FIGURES.values()) == 16
    for img in images:
        assert (tmp_path / img).is_file(), img
    want = f"{reference().eta_mean_square:.4f}"
    assert f"| {want} | {want} |" in text
    assert not [p for p in tmp_path.rglob(".*") if ".tmp-" in p.name]
    # The network sentences are computed: summaries that contradict the theory and the
    # paper change them.
    import json

    folders = {k: next(tmp_path.glob(f"{k}-*")) for k in reproduce.STUDIES}
    sm = {k: json.loads((f / "summary.json").read_text()) for k, f in folders.items()}
    rel = {k: f.name for k, f in folders.items()}
    base = "\n".join(reproduce.network_sections(sm, rel))
    bad = json.loads(json.dumps(sm))
    for st in bad["nn_diagram"]["by_B"].values():  # every minimum above its box line
        st["under_line"], st["minima"] = 0, max(st["minima"], 1)
    th = bad["moment_spectrum"]["thresholds"]
    th["as"], th["4"] = th["4"], th["as"]
    for g, v in zip(bad["nn_sharpness"]["by_eta"], ("at the edge", "inside"), strict=True):
        g["verdict"] = v  # the paper's pattern reversed
    text2 = "\n".join(reproduce.network_sections(bad, rel))
    def fig3(text):
        return next(line for line in text.splitlines() if "sqrt(gamma)):" in line)

    assert "sqrt(gamma)): **disagrees**" in fig3(text2) and fig3(text2) != fig3(base)
    assert "NOT ordered" in text2 and "NOT ordered" not in base
    assert "**Disagrees**" in text2 and "**Agrees**" in base


def test_package_study_on_dask_equals_serial(tmp_path):
    """A package study on a LocalCluster with 2 workers (which import it from the
    package) gives the serial table number for number."""
    study = _study("monte_carlo")
    cfg = preset(study.config, None, d=2, n=6, r=1, B=(1, 6), ratios=(0.5, 1.5), steps=20,
                 paths=256, fit_from=5)
    serial = run(study, cfg, out=tmp_path / "serial", quiet=True)
    dask = run(study, cfg, out=tmp_path / "dask", executor="dask", workers=2, quiet=True)
    # byte for byte (rows hold NaN where a fit could not be made, and NaN != NaN)
    assert (dask / "data.csv").read_bytes() == (serial / "data.csv").read_bytes()
