"""Does BG/NBD predict what customers did next?  The calibration-versus-holdout check.

The window is split at cal_end = as_of - holdout: the model is fitted on the customer summary as
of cal_end (the calibration period) and asked how many purchases each of those customers will
make in the holdout (cal_end, as_of].  Customers are grouped by their repeat purchases in
calibration (0, 1, ..., 7+) and the group's mean actual holdout purchases is set beside the
mean prediction, as in Fader, Hardie & Lee (2005), figure 3 on CDNOW.

No SQL of its own: both periods come from analytics.queries.customer_summary, which counts
purchase days (orders on one calendar day are one purchase).  Holdout purchases are the
purchase days up to as_of minus those up to cal_end; this equals lifetimes'
calibration_and_holdout_data with freq="D" (tests/test_analytics_diagnostics.py checks it on
CDNOW).  Customers whose first purchase falls in the holdout are left out, as there.
"""
import datetime

import numpy as np
import pandas as pd

from analytics import fitting

HOLDOUT_COLUMNS = ["frequency_cal", "recency_cal", "T_cal", "frequency_holdout", "duration_holdout"]


class DiagnosticsError(ValueError):
    """The check cannot be made on this data; the message is for people."""


def calibration_end(as_of, holdout_weeks):
    """The last day of the calibration period: `holdout_weeks` weeks before as_of."""
    if holdout_weeks <= 0:
        raise DiagnosticsError(f"holdout_weeks 应大于 0，收到 {holdout_weeks}")
    return as_of - datetime.timedelta(weeks=holdout_weeks)


def holdout_summary(calibration, full, holdout_days, unit_days=7):
    """lifetimes' calibration_and_holdout_data columns from two customer summaries.

    `calibration` is customer_summary(cal_end, start, unit_days=unit_days), `full` is
    customer_summary(as_of, start) (any unit: only purchase_days is read), holdout_days is
    (as_of - cal_end) in days.  One row per calibration customer.
    """
    after = full["purchase_days"].reindex(calibration.index)
    if after.isna().any():
        raise ValueError("`full` must cover every customer of `calibration` (same start, later as_of)")
    frame = pd.DataFrame({
        "frequency_cal": calibration["frequency"].astype(int),
        "recency_cal": calibration["recency"].astype(float),
        "T_cal": calibration["T"].astype(float),
        "frequency_holdout": (after - calibration["purchase_days"]).astype(int),
    }, index=calibration.index)
    if (frame["frequency_holdout"] < 0).any():
        raise ValueError("`full` has fewer purchase days than `calibration`: is its as_of earlier?")
    frame["duration_holdout"] = holdout_days / unit_days
    return frame[HOLDOUT_COLUMNS]


def fit_calibration(holdout):
    """BG/NBD fitted on the calibration columns of holdout_summary's frame, as the report's own fit
    is (analytics.fitting: maximum likelihood, else the smallest penalty that converges)."""
    if holdout.empty:
        raise DiagnosticsError("校准期内没有购买记录，无法检验模型")
    if not (holdout["frequency_cal"] > 0).any():
        raise DiagnosticsError("校准期内没有复购客户，无法拟合 BG/NBD 模型")
    calibration = holdout.rename(columns={"frequency_cal": "frequency", "recency_cal": "recency", "T_cal": "T"})
    try:
        return fitting.fit_bgnbd(calibration).model
    except fitting.NotEnoughData as error:
        raise DiagnosticsError(f"校准期内{error}") from None


def purchases_by_frequency(holdout, model, max_frequency=7):
    """Per calibration frequency 0..max_frequency (the last group is max_frequency or more):
    customers, mean actual holdout purchases and mean predicted by `model`.

    Indexed by the group's label ("0", "1", ..., "7+"); groups without customers are left out.
    """
    predicted = model.conditional_expected_number_of_purchases_up_to_time(
        holdout["duration_holdout"], holdout["frequency_cal"], holdout["recency_cal"], holdout["T_cal"])
    frame = pd.DataFrame({
        "group": holdout["frequency_cal"].clip(upper=max_frequency),
        "actual": holdout["frequency_holdout"].astype(float),
        "predicted": np.asarray(predicted, dtype=float),
    })
    table = frame.groupby("group").agg(
        customers=("actual", "size"), actual=("actual", "mean"), predicted=("predicted", "mean"))
    table.index = [f"{g}+" if g == max_frequency else str(g) for g in table.index]
    table.index.name = "frequency_cal"
    return table


def calibration_check(calibration, full, holdout_days, unit_days=7, max_frequency=7):
    """(model fitted on calibration, purchases_by_frequency table): the whole check in one call.

    Raises DiagnosticsError when the calibration period has no customers or no repeat buyers.
    """
    holdout = holdout_summary(calibration, full, holdout_days, unit_days)
    model = fit_calibration(holdout)
    return model, purchases_by_frequency(holdout, model, max_frequency)
