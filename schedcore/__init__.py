"""schedcore: vectorised hyper-parameter schedules, fit policies, tables and LR suggesters.

Pure numpy; never imports torch.

>>> import schedcore
>>> schedcore.schedule_table(schedcore.one_cycle(1e-3), 1000)["lr"].shape
(1000,)
"""

from .annealers import (
    Annealer,
    FuncSchedule,
    SchedCos,
    SchedExp,
    SchedLin,
    SchedNo,
    SchedPoly,
    Schedule,
    annealer,
    as_positions,
    as_schedule,
    group_values,
)
from .callables import evaluate_callable
from .combine import CombinedSchedule, combine_scheds, combined_cos
from .curves import CURVE_FORMAT, LossCurve, curve_from_dict, load_curve, save_curve
from .plot import plot_lr_find, plot_schedules
from .policies import POLICIES, flat_cos, get_policy, lr_range, one_cycle, sgdr, warmup_cosine, wsd
from .suggest import (
    CurveDiagnosis,
    LossSmoother,
    SuggestedLRs,
    SuggestionMethod,
    SuggestionWarning,
    descent,
    diagnose,
    diverged,
    minimum,
    slide,
    smooth_losses,
    steep,
    suggest_lrs,
    trim_curve,
    valley,
)
from .tables import ScheduleTable, load_table, save_table, schedule_table, table_csv_lines

__version__ = "0.1.0"

__all__ = [
    "Annealer",
    "SchedCos",
    "SchedExp",
    "SchedLin",
    "SchedNo",
    "SchedPoly",
    "Schedule",
    "annealer",
    "FuncSchedule",
    "as_schedule",
    "evaluate_callable",
    "as_positions",
    "group_values",
    "CombinedSchedule",
    "combine_scheds",
    "combined_cos",
    "POLICIES",
    "flat_cos",
    "get_policy",
    "lr_range",
    "one_cycle",
    "sgdr",
    "warmup_cosine",
    "wsd",
    "ScheduleTable",
    "load_table",
    "save_table",
    "table_csv_lines",
    "schedule_table",
    "CurveDiagnosis",
    "LossSmoother",
    "SuggestedLRs",
    "SuggestionMethod",
    "SuggestionWarning",
    "descent",
    "diagnose",
    "diverged",
    "minimum",
    "slide",
    "smooth_losses",
    "steep",
    "suggest_lrs",
    "trim_curve",
    "valley",
    "CURVE_FORMAT",
    "LossCurve",
    "curve_from_dict",
    "load_curve",
    "save_curve",
    "plot_lr_find",
    "plot_schedules",
]
