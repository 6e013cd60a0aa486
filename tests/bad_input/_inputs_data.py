"""Small data sets shared by the ``cases_inputs_*`` rows of the bad-input matrix.

Everything is generated from fixed seeds (or read from ``tests/data``) so every row is
deterministic; each bad variant changes one thing of a good input.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[1] / "data"

rng = np.random.default_rng(14)
N = 60
Y = np.tile([0, 1], N // 2)
S = Y * 1.2 + rng.normal(size=N)                     # a score with AUC around 0.8
S2 = Y * 0.5 + rng.normal(size=N)
P = 1 / (1 + np.exp(-(S - 0.6)))                     # probabilities in (0, 1)
LAB = np.where(Y == 1, "HER2+", "HER2-")              # labels that sort the wrong way round
POSNEG = np.where(Y == 1, "Positive", "negative")
UNORDERED = pd.Categorical(POSNEG)                    # categories sorted: ['Positive', 'negative']
Y12 = Y + 1                                           # 1/2 coding
Y3 = np.arange(N) % 3                                 # three classes

# pandas inputs whose indexes do not match (same length, different labels)
Y_SER = pd.Series(Y, index=np.arange(N))
S_SHIFTED = pd.Series(S, index=np.arange(N) + 1000)
P_SHIFTED = pd.Series(P, index=np.arange(N) + 1000)


def stray(x, value="unknown", at=5):
    """``x`` as an object Series with one stray string."""
    out = pd.Series(np.asarray(x, dtype=float).astype(object))
    out.iloc[at] = value
    return out


def with_nan(x, at=(3, 8)):
    out = np.asarray(x, dtype=float).copy()
    out[list(at)] = np.nan
    return out


S_STRAY = stray(S)
P_STRAY = stray(P, "n/a")
S_NAN = with_nan(S)
P_NAN = with_nan(P)
CONST = np.full(N, 0.4)

DF = pd.DataFrame({
    "her2": Y, "her2_lab": LAB, "her2_pn": POSNEG, "her2_12": Y12,
    "age": np.round(rng.normal(55, 10, N)), "size": np.round(rng.lognormal(3, 0.4, N), 1),
    "er": rng.choice(["neg", "pos"], N), "grade": rng.choice(["1", "2", "3"], N),
    "score": S, "prob": P,
})
DF_AGE_STRAY = DF.assign(age=stray(DF["age"], "unknown", 7))
DF_SIZE_STRAY = DF.assign(size=stray(DF["size"], "<5", 11))
DF_AGE_NAN = DF.assign(age=with_nan(DF["age"], (2, 4, 6)))
DF_CONST = DF.assign(c=1.0)


def _lung() -> pd.DataFrame:
    lung = pd.read_csv(DATA / "lung.csv")
    lung = lung.assign(dead=lung["status"] - 1)[["time", "dead", "status", "age", "sex", "ph.ecog", "wt.loss"]]
    return lung.dropna(subset=["ph.ecog"]).reset_index(drop=True)


LUNG = _lung()
NL = len(LUNG)
LUNG_NEG = LUNG.assign(time=LUNG["time"].where(LUNG.index != 4, -30))
LUNG_ZERO = LUNG.assign(time=LUNG["time"].where(LUNG.index != 9, 0))
LUNG_TIME_STRAY = LUNG.assign(time=stray(LUNG["time"], "lost", 12))
LUNG_AGE_STRAY = LUNG.assign(age=stray(LUNG["age"], "unknown", 3))
LUNG_EVENT_LAB = LUNG.assign(dead=np.where(LUNG["dead"] == 1, "dead", "alive"))
LUNG_NAN = LUNG.assign(age=with_nan(LUNG["age"], (1, 2)))
LUNG_CONST = LUNG.assign(c=1.0)
LUNG_NOEVENT = LUNG.assign(dead=0)
RISK = LUNG["age"].to_numpy(float) / 10 + LUNG["sex"].to_numpy(float)

# agreement
R1 = np.array(["zero", "low", "2+", "3+"] * 10)
R2 = np.where(np.arange(40) % 7 == 0, np.roll(R1, 1), R1)
ICC_LONG = pd.DataFrame({"lesion": np.repeat(np.arange(20), 2), "reader": np.tile(["a", "b"], 20),
                         "value": np.repeat(rng.normal(size=20), 2) + rng.normal(0, 0.3, 40)})
