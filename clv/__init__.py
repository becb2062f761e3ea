"""Predictive customer lifetime value: BG/NBD purchases, Gamma-Gamma spend, RFM summaries and holdout checks.

Pure Python (numpy/scipy/pandas); no database. Modules:

* :mod:`clv.summary` — per-person frequency/recency/T/monetary value and the calibration/holdout split;
* :mod:`clv.bgnbd` — BG/NBD fit, expected purchases, P(alive) (Fader, Hardie & Lee 2005a);
* :mod:`clv.gamma_gamma` — Gamma-Gamma fit and expected spend (Fader, Hardie & Lee 2005b);
* :mod:`clv.lifetime_value` — discounted CLV over a horizon in months;
* :mod:`clv.holdout` — calibration/holdout report (the paper's Figure 5 and error figures);
* :mod:`clv.simulate` — seeded synthetic transaction logs; :mod:`clv.bench` — timing on them.
"""

from clv.bgnbd import (
    BGNBDFit,
    BGNBDParams,
    conditional_expected_purchases,
    expected_cumulative_purchases,
    expected_purchases_new_customer,
    fit_bgnbd,
    probability_alive,
)
from clv.gamma_gamma import (
    GammaGammaFit,
    GammaGammaParams,
    conditional_expected_spend,
    fit_gamma_gamma,
    population_mean_spend,
)
from clv.holdout import HoldoutMetrics, HoldoutReport, holdout_report
from clv.lifetime_value import customer_lifetime_value, expected_purchases_by_month
from clv.summary import CalibrationHoldout, calibration_holdout_split, rfm_summary

__all__ = [
    "BGNBDFit",
    "BGNBDParams",
    "CalibrationHoldout",
    "GammaGammaFit",
    "GammaGammaParams",
    "HoldoutMetrics",
    "HoldoutReport",
    "calibration_holdout_split",
    "conditional_expected_purchases",
    "conditional_expected_spend",
    "customer_lifetime_value",
    "expected_cumulative_purchases",
    "expected_purchases_by_month",
    "expected_purchases_new_customer",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "holdout_report",
    "population_mean_spend",
    "probability_alive",
    "rfm_summary",
]
