"""Roll-rate risk model and early warning.

A logistic regression (scikit-learn; features standardised, so each coefficient is the change
in log-odds of rolling per standard deviation of the feature) trained on the synthetic cohort of
:func:`bot.outreach.portfolio.generate_cohort`: will the account move to the next DPD bucket within 30
days? AUC is measured on a stratified held-out quarter. The early-warning list scores the live
portfolio from the system of record, in batches (two queries and one model call per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import db
from bot.accounts import dpd_bucket
from bot.money import Money
from bot.outreach.portfolio import balance_position, generate_cohort

FEATURES = (
    "days_past_due",
    "balance_position",
    "full_payments",
    "partial_payments",
    "missed_payments",
    "broken_promises",
    "kept_promises",
    "hardship",
    "months_since_payment",
)
NEXT_BUCKET = {"1-30": "31-60", "31-60": "61-90", "61-90": "90+", "90+": "charge-off"}
SEED = 7


def features(days_past_due: int, position: float, history: Sequence[Any]) -> list[float]:
    """The model's inputs (order of :data:`FEATURES`) from DPD, the balance's place in its band
    (0..1) and monthly history rows (oldest first; attributes due_minor, paid_minor, promise,
    hardship)."""
    paid = [m.paid_minor for m in history]
    since = next((i for i, amount in enumerate(reversed(paid)) if amount > 0), len(paid))
    return [
        float(days_past_due),
        position,
        float(sum(1 for m in history if m.paid_minor >= m.due_minor)),
        float(sum(1 for m in history if 0 < m.paid_minor < m.due_minor)),
        float(sum(1 for m in history if m.paid_minor == 0)),
        float(sum(1 for m in history if m.promise == "broken")),
        float(sum(1 for m in history if m.promise == "kept")),
        float(any(m.hardship for m in history)),
        float(since),
    ]


@dataclass(frozen=True)
class TrainedModel:
    """The fitted pipeline, its held-out AUC, the ROC points, and the standardised coefficients
    as (feature, coefficient) sorted by absolute size."""

    pipeline: Pipeline
    auc: float
    roc: tuple[list[float], list[float]]
    coefficients: list[tuple[str, float]]
    train_size: int
    test_size: int
    base_rate: float


def train() -> TrainedModel:
    """Fit on 75% of the synthetic cohort and measure AUC on the other 25% (stratified, seeded)."""
    cohort = generate_cohort()
    x = np.array([features(r.days_past_due, r.balance_position, r.history) for r in cohort])
    y = np.array([int(r.rolled) for r in cohort])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, stratify=y, random_state=SEED)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=SEED))
    pipeline.fit(x_train, y_train)
    scores = pipeline.predict_proba(x_test)[:, 1]
    fpr, tpr, _ = roc_curve(y_test, scores)
    coefs = pipeline.named_steps["logisticregression"].coef_[0]
    ranked = sorted(zip(FEATURES, (float(c) for c in coefs), strict=True), key=lambda fc: -abs(fc[1]))
    return TrainedModel(
        pipeline,
        float(roc_auc_score(y_test, scores)),
        ([float(v) for v in fpr], [float(v) for v in tpr]),
        ranked,
        len(y_train),
        len(y_test),
        float(y.mean()),
    )


@dataclass(frozen=True)
class Warning:
    """One account on the early-warning list: ``probability`` of rolling from ``bucket`` to
    ``next_bucket`` within 30 days, and the features pushing it up most (feature, log-odds)."""

    account_id: str
    days_past_due: int
    bucket: str
    next_bucket: str
    probability: float
    drivers: list[tuple[str, float]]


def early_warning(
    session: Session, model: TrainedModel, threshold: float = 0.7, batch: int = 5000, progress: bool = False
) -> list[Warning]:
    """Accounts in the system of record whose roll probability is at least ``threshold``,
    highest first. Scored ``batch`` accounts at a time: two queries (accounts, their payment
    history) and one call of the model per batch."""
    from tqdm import tqdm

    scaler = model.pipeline.named_steps["standardscaler"]
    coefs = model.pipeline.named_steps["logisticregression"].coef_[0]
    total = int(session.execute(select(func.count()).select_from(db.Account)).scalar_one()) if progress else None
    out = []
    last: str | None = None
    with tqdm(total=total, desc="risk", unit="account", disable=not progress) as bar:
        while True:
            query = select(db.Account.id, db.Account.days_past_due, db.Account.balance_minor, db.Account.currency)
            query = query.order_by(db.Account.id).limit(batch)
            accounts = session.execute(query.where(db.Account.id > last) if last is not None else query).all()
            if not accounts:
                break
            first, last = str(accounts[0][0]), str(accounts[-1][0])
            history: dict[str, list[Any]] = {}
            month = db.PaymentMonth
            for row in session.execute(
                select(month.account_id, month.due_minor, month.paid_minor, month.promise, month.hardship)
                .where(month.account_id.between(first, last))
                .order_by(month.account_id, month.month)
            ):
                history.setdefault(str(row.account_id), []).append(row)
            x = np.array(
                [
                    features(int(dpd), balance_position(Money(int(minor), str(currency))), history.get(str(aid), []))
                    for aid, dpd, minor, currency in accounts
                ]
            )
            probabilities = model.pipeline.predict_proba(x)[:, 1]
            flagged = np.nonzero(probabilities >= threshold)[0]
            if len(flagged):
                contributions = scaler.transform(x[flagged]) * coefs
                for row_index, contribution in zip(flagged, contributions, strict=True):
                    account_id, dpd = str(accounts[row_index][0]), int(accounts[row_index][1])
                    drivers = sorted(
                        ((f, float(c)) for f, c in zip(FEATURES, contribution, strict=True) if c > 0),
                        key=lambda fc: -fc[1],
                    )
                    bucket = dpd_bucket(dpd)
                    out.append(
                        Warning(
                            account_id, dpd, bucket, NEXT_BUCKET[bucket], float(probabilities[row_index]), drivers[:3]
                        )
                    )
            bar.update(len(accounts))
    return sorted(out, key=lambda w: -w.probability)


def save_chart(model: TrainedModel, warnings: Sequence[Warning], path: Path) -> Path:
    """ROC curve with AUC, the coefficients, and early-warning accounts by bucket, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 5))
    fpr, tpr = model.roc
    axes[0].plot(fpr, tpr, label=f"AUC {model.auc:.3f}")
    axes[0].plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes[0].set(title="Roll within 30 days: ROC (held out)", xlabel="false positive rate", ylabel="true positive rate")
    axes[0].legend(loc="lower right")
    names = [f for f, _ in reversed(model.coefficients)]
    values = [c for _, c in reversed(model.coefficients)]
    axes[1].barh(names, values, color=["tab:red" if v > 0 else "tab:green" for v in values])
    axes[1].set(title="Log-odds per standard deviation", xlabel="coefficient")
    buckets = list(NEXT_BUCKET)
    counts = [sum(1 for w in warnings if w.bucket == b) for b in buckets]
    axes[2].bar(buckets, counts, color="tab:orange")
    axes[2].set(title=f"Early warning: {len(warnings)} accounts", xlabel="DPD bucket", ylabel="accounts")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
