"""Float64 NumPy references of the losses, written from the papers' formulas, shared by the tests."""

import numpy as np


def softmax64(z, temperature=1.0):
    z = np.asarray(z, "float64") / temperature
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def kl64(p, q):
    return np.sum(p * (np.log(p) - np.log(q)), -1)


def ce64(labels, logits):
    return -np.log(softmax64(logits)[np.arange(len(labels)), labels])


def dkd64(t, s, labels, temperature, alpha=1.0, beta=8.0):
    """Decoupled KD per example: `T^2 (alpha TCKD + beta NCKD)` (Zhao et al. 2022)."""
    p, q = softmax64(t, temperature), softmax64(s, temperature)
    rows = np.arange(len(labels))
    pt, qt = p[rows, labels], q[rows, labels]
    tckd = pt * np.log(pt / qt) + (1 - pt) * np.log((1 - pt) / (1 - qt))
    mask = np.ones_like(p, bool)
    mask[rows, labels] = False
    pn = np.where(mask, p, 1.0) / (1 - pt)[:, None]
    qn = np.where(mask, q, 1.0) / (1 - qt)[:, None]
    nckd = np.sum(np.where(mask, pn * np.log(pn / qn), 0.0), -1)
    return temperature**2 * (alpha * tckd + beta * nckd)


def standardize64(z):
    """Logit standardization as Sun et al.'s code does it (sample SD, epsilon 1e-7)."""
    z = np.asarray(z, "float64")
    return (z - z.mean(-1, keepdims=True)) / (z.std(-1, ddof=1, keepdims=True) + 1e-7)


def pearson64(a, b):
    """Correlation of each row of `a` with the same row of `b` (DIST's, epsilon 1e-8)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    return (a * b).sum(-1) / (np.sqrt((a * a).sum(-1) * (b * b).sum(-1)) + 1e-8)


def dist64(t, s, temperature, beta=1.0, gamma=1.0):
    """DIST as Huang et al.'s code computes it, over all rows of 2-D logits."""
    p, q = softmax64(t, temperature), softmax64(s, temperature)
    inter = 1 - pearson64(q, p).mean()
    intra = 1 - pearson64(q.T, p.T).mean()
    return temperature**2 * (beta * inter + gamma * intra)
