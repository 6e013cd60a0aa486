"""Reporting: publication tables, journal-style figures, and rendered study reports."""
from .format import fmt_ci, fmt_count_ci, fmt_mean_sd, fmt_median_iqr, fmt_num, fmt_p, fmt_pct, fmt_ratio_ci
from .style import get_style, journal_style, register_style, save_figure
from .tables import PublicationTable

__all__ = ["PublicationTable", "fmt_ci", "fmt_count_ci", "fmt_mean_sd", "fmt_median_iqr", "fmt_num", "fmt_p", "fmt_pct",
           "fmt_ratio_ci", "get_style", "journal_style", "register_style", "save_figure"]
