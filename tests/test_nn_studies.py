"""Claim: the network studies, at tiny sizes, write complete folders whose saved models
reproduce their tables, and their rows obey the theorems (not luck): a converged GD
minimum has a <= 2/eta and a converged SGD minimum has eta <= eta_exact of its own
sampling, up to the tolerance of a run stopped at a small but non-zero loss."""

import numpy as np
import pytest

import sim
from scripts_loader import load_script
from sim.nets import to_ensemble
from sim.studies import networks as nw
from sim.studies import (
    nn_correlation,
    nn_diagram,
    nn_edge,
    nn_escape,
    nn_sharpness,
    nn_stay,
    preset,
    read_csv,
    read_summary,
    run,
)

EDGE_TOL = 0.05
"""A run stops at loss <= 1e-6 (1e-5), not at the minimum: GD there still oscillates
about its edge (measured a eta / 2 up to 1.012 on digits), and the Gauss-Newton
per-sample Hessians differ from the exact ones by the residual term; 5% covers both."""


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    out = tmp_path_factory.mktemp("nn")
    cfgs = load_script("reproduce").tiny_networks(0)
    studies = {"nn_sharpness": nn_sharpness.STUDY, "nn_diagram": nn_diagram.STUDY,
               "nn_correlation": nn_correlation.STUDY, "nn_escape": nn_escape.STUDY}
    result = {k: run(studies[k], cfgs[k], out=out, quiet=True) for k in studies}
    edge_cfg = nn_edge.STUDY.config
    result["nn_edge"] = run(nn_edge.STUDY, preset(edge_cfg, None, n=20, hidden=(64,),
                                                  Bs=(4, 20), scales=(1.0, 3.0),
                                                  warmups=(0, 200), seeds=1, steps=600,
                                                  segments=3, loss_tol=1e-5), out=out,
                            quiet=True)
    return result


def test_folders_are_complete(folders):
    """Every study wrote its table, models, summaries and figures."""
    for name, folder in folders.items():
        for f in ("data.csv", "config.json", "meta.json", "summary.md", "summary.json"):
            assert (folder / f).is_file(), (name, f)
        assert (folder / "models.npz").is_file() or name == "nn_escape", name
        for fig in read_summary(folder)["figures"]:
            assert (folder / f"{fig}.png").is_file() and (folder / f"{fig}.pdf").is_file()
    assert (folders["nn_escape"] / "models.npz").is_file()


@pytest.mark.parametrize("dataset", ["digits", "mnist1d"])
def test_nets_output_one_value_per_class(dataset):
    """The nets of the network studies (whose output width is typed in sim.studies) have
    one output per class of the data they train on, the width of its one-hot targets."""
    cfg = preset(nn_escape.Config, None, dataset=dataset, n=20)
    _, Y, *_ = nw.data_of(cfg)
    assert nw.net_of(cfg).widths[-1] == Y.shape[1] == nn_escape.problem(cfg)[1].shape[1]
    stay = preset(nn_stay.Config, None, datasets=(dataset,), n=20)
    assert nn_stay.net_of(stay, dataset, "tanh").widths[-1] == Y.shape[1]


def test_columns(folders):
    """The rows of the model studies hold the documented columns."""
    need = {"dataset", "widths", "activation", "optimizer", "scheme", "eta", "B", "seed",
            "steps_run", "converged", "loss", "train_acc", "test_acc", "a", "s", "eta_exact",
            "eta_theorem", "eta_box"}
    for name in ("nn_sharpness", "nn_diagram", "nn_correlation", "nn_edge"):
        rows = read_csv(folders[name] / "data.csv")
        assert rows and need <= set(rows[0]), (name, need - set(rows[0]))


def test_converged_gd_minima_are_below_two_over_eta(folders):
    """Every converged GD minimum has a <= (2/eta)(1 + EDGE_TOL); at least one converged."""
    rows = [r for name in ("nn_sharpness", "nn_diagram", "nn_edge")
            for r in read_csv(folders[name] / "data.csv") if r["optimizer"] == "gd"]
    converged = [r for r in rows if r["converged"]]
    assert converged, "no GD run converged: the test would test nothing"
    for r in converged:
        assert r["a"] * r["eta"] / 2 <= 1 + EDGE_TOL, r


def test_converged_sgd_minima_are_mean_square_stable(folders):
    """Every converged SGD minimum has eta <= eta_exact (1 + EDGE_TOL) for its own B."""
    rows = [r for name in ("nn_diagram", "nn_edge")
            for r in read_csv(folders[name] / "data.csv") if r["optimizer"] == "sgd"]
    converged = [r for r in rows if r["converged"]]
    assert converged, "no SGD run converged: the test would test nothing"
    for r in converged:
        assert r["eta"] <= r["eta_exact"] * (1 + EDGE_TOL), r


@pytest.mark.parametrize("name", ["nn_sharpness", "nn_diagram", "nn_correlation"])
def test_saved_models_reproduce_the_table(folders, name):
    """models.npz recomputes every row's a and s (1e-8) and eta_exact (1e-8)."""
    net, thetas, X, Y = nw.load_models(folders[name])
    rows = read_csv(folders[name] / "data.csv")
    assert len(thetas) == len(rows)
    for theta, r in zip(thetas, rows, strict=True):
        if r["diverged"]:
            continue
        ens = to_ensemble(net, theta, X)
        assert ens.a == pytest.approx(r["a"], rel=1e-8)
        assert ens.s == pytest.approx(r["s"], rel=1e-8)
        if np.isfinite(r["eta_exact"]):
            th = sim.thresholds(ens, r["B"])
            assert th.eta_exact == pytest.approx(r["eta_exact"], rel=1e-8)


def test_escape_predictions_are_the_gd_minimum_thresholds(folders):
    """nn_escape: the predicted eta_exact(B) is the threshold of the saved GD minimum."""
    net, thetas, X, _ = nw.load_models(folders["nn_escape"])
    ens = to_ensemble(net, thetas[0], X)
    by_B = read_summary(folders["nn_escape"])["by_B"]
    for B, st in by_B.items():
        assert sim.thresholds(ens, int(B)).eta_exact == pytest.approx(st["eta_exact"], rel=1e-8)
        assert 0.0 <= st["escape_probability"] <= 1.0
