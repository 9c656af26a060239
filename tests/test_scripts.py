"""Claim: every script the README lists runs end to end in a tiny mode and writes a
complete results folder whose numbers match the library's."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.nonlinear_toy import reference

ROOT = Path(__file__).resolve().parents[1]


def load_script(name):
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_derive_conditions(tmp_path):
    """derive_conditions writes conditions.json/.md with the toy threshold 2a/(a^2 + s^2)."""
    mod = load_script("derive_conditions")
    folder = mod.main(mod.Config(out=str(tmp_path), quiet=True))
    assert folder == tmp_path / "derive_conditions"
    for f in ("conditions.json", "conditions.md", "config.json", "meta.json"):
        assert (folder / f).is_file()
    data = json.loads((folder / "conditions.json").read_text())
    assert data["toy"]["max_stable_lr"] == pytest.approx(reference().eta_mean_square, rel=1e-12)
    assert "eta_max" in data["1-D conditions (without)"]
    assert not list(tmp_path.glob(".derive_conditions*")), "temporary folder left behind"


@pytest.mark.parametrize("script", ["derive_conditions", "toy_example", "diagram",
                                    "monte_carlo", "bench_linear", "bench_mlp", "reproduce"])
def test_help(script):
    """Every script the README lists answers --help."""
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / f"{script}.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--out" in out.stdout


def test_monte_carlo_tiny(tmp_path):
    """monte_carlo writes data.csv, the stability map and a summary whose rho values
    are the library's spectral radii; decided Monte Carlo verdicts agree with rho."""
    import csv

    import numpy as np

    import sim

    mod = load_script("monte_carlo")
    cfg = mod.Config(kind="prescribed", d=2, n=6, a=1.0, s=0.05, B=(1, 6), ratios=(0.5, 1.5),
                     steps=30, paths=512, fit_from=5, out=str(tmp_path), quiet=True)
    folder = mod.main(cfg)
    for f in ("data.csv", "stability_map.png", "stability_map.pdf", "summary.md",
              "config.json", "meta.json"):
        assert (folder / f).is_file(), f
    rows = list(csv.DictReader(open(folder / "data.csv")))
    assert len(rows) == 4
    ens = mod.make_ensemble(cfg)
    for r in rows:
        rho = sim.spectral_radius(ens, float(r["eta"]), int(r["B"])).rho
        assert float(r["rho"]) == pytest.approx(rho, rel=1e-10)
        if r["mc_verdict"] != "undecided":
            assert (r["mc_verdict"] == "stable") == (rho <= 1)
    assert "stability map" in (folder / "summary.md").read_text()
    assert np.isfinite([float(r["log_rho"]) for r in rows]).all()


def test_bench_linear_quick(tmp_path):
    """bench_linear --quick runs and writes its table (timings are reported, not asserted)."""
    mod = load_script("bench_linear")
    folder = mod.main(mod.Config(quick=True, repeats=1, out=str(tmp_path)))
    text = (folder / "summary.md").read_text()
    assert "vs NumPy" in text and "spectral_radius" in text
    assert (folder / "table.csv").is_file()


def test_bench_mlp_quick(tmp_path):
    """bench_mlp --quick runs the four benchmarks and writes its table; the curvature
    it times agrees with the dense reference (timings are reported, not asserted)."""
    import csv

    mod = load_script("bench_mlp")
    folder = mod.main(mod.Config(quick=True, repeats=1, out=str(tmp_path)))
    text = (folder / "summary.md").read_text()
    assert all(f"| {k}." in text for k in (1, 2, 3, 4))
    rows = {(r["benchmark"], r["key"]): r["value"]
            for r in csv.DictReader(open(folder / "table.csv"))}
    assert float(rows[("sigma", "ours_rel_err")]) < 1e-8
    assert float(rows[("threshold", "eta_exact")]) <= float(rows[("threshold", "eta_gd")])


def test_toy_example_tiny(tmp_path):
    """toy_example writes data, four figures and a summary with the exact thresholds."""
    mod = load_script("toy_example")
    folder = mod.main(mod.Config(etas=(0.5, 0.7), runs=100, steps=500, out=str(tmp_path),
                                 quiet=True))
    for f in ("data.npz", "thresholds.json", "summary.md", "landscape.png", "paths.png",
              "escape_probability.png", "escape_times.png", "escape_times.pdf"):
        assert (folder / f).is_file(), f
    summary = (folder / "summary.md").read_text()
    ref = reference()
    for value in (ref.eta_mean_square, ref.eta_almost_sure):
        assert f"| {value:.4f} | {value:.4f} |" in summary
    import numpy as np

    data = np.load(folder / "data.npz")
    assert data["gd_escape_prob"].max() == 0.0
    assert data["sgd_escape_prob"][0] == 0.0 and data["sgd_escape_prob"][1] == 1.0


def test_diagram_tiny(tmp_path):
    """diagram writes the two figures and per-ensemble verdicts equal to sim.report's;
    no ensemble meets the theorem's condition while unstable."""
    import sim

    mod = load_script("diagram")
    cfg = mod.Config(ensembles=20, out=str(tmp_path), quiet=True)
    folder = mod.main(cfg)
    for f in ("ensembles.csv", "diagram.png", "overlay.png", "summary.md"):
        assert (folder / f).is_file(), f
    rows = mod.read_rows(folder)
    ensembles = list(mod.random_ensembles(cfg))
    for r, ens in zip(rows, ensembles, strict=True):
        rep = sim.report(ens, cfg.eta, cfg.B_fixed)
        assert r["rho"] == pytest.approx(rep.rho, rel=1e-10)
        assert r["stable"] == rep.stable["exact"] and r["box"] == rep.box
        assert not (r["theorem"] and not r["stable"])


def test_reproduce_tiny(tmp_path):
    """reproduce runs every study and writes REPORT.md whose figures exist and whose
    toy threshold is the library's."""
    import re

    from theory.numeric import max_stable_lr

    mod = load_script("reproduce")
    path = mod.main(mod.Config(tiny=True, out=str(tmp_path), quiet=True))
    text = path.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 7
    for img in images:
        assert (tmp_path / img).is_file(), img
    want = f"{reference().eta_mean_square:.4f}"
    assert f"| {float(max_stable_lr(2.0, 1.8, 2, 1)):.4f} | {want} |" in text
    assert not list(tmp_path.glob(".*tmp*"))


def test_reproduce_full_configs_are_valid():
    """The --full configurations construct (validated) without running."""
    mod = load_script("reproduce")
    configs = mod.study_configs(mod.parse_args(["--full", "--out", "x"]))
    assert set(configs) == set(mod.MODULES)
    assert configs["toy_example"].runs == 20000 and configs["diagram"].ensembles == 4000
