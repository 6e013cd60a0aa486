"""Common behaviour of result objects.

Results are frozen dataclasses holding numbers as attributes. They share three habits:
``to_frame()`` gives a tidy :class:`pandas.DataFrame`, ``_repr_html_`` renders that frame in
notebooks, and ``__repr__`` is a short readable text block. Subclasses implement ``to_frame``.
"""
from __future__ import annotations

import html
from typing import Any

import pandas as pd


class Result:
    """Mixin for frozen result dataclasses (``@dataclass(frozen=True, repr=False)``)."""

    #: one line shown above the table in reprs; subclasses may override ``_title``
    def _title(self) -> str:
        method = getattr(self, "method", None)
        engine = getattr(self, "engine", None)
        parts = [type(self).__name__]
        extra = ", ".join(str(p) for p in (method, f"engine={engine}" if engine else None) if p)
        if extra:
            parts.append(f"({extra})")
        return " ".join(parts)

    def to_frame(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict, is_dataclass

        if is_dataclass(self):
            return {k: v for k, v in asdict(self).items()}
        return dict(vars(self))

    def __repr__(self) -> str:
        try:
            frame = self.to_frame()
            with pd.option_context("display.max_columns", 20, "display.width", 120):
                if len(frame) > 24:  # long curves: head and tail are what a reader checks
                    body = (frame.head(10).to_string() + f"\n... ({len(frame) - 15} more rows)\n"
                            + frame.tail(5).to_string(header=False))
                else:
                    body = frame.to_string()
        except Exception as exc:  # repr must never raise
            body = f"<unprintable: {exc!r}>"
        return f"{self._title()}\n{body}"

    def _repr_html_(self) -> str:
        frame = self.to_frame()
        table = frame.to_html(float_format=lambda v: f"{v:.4g}", border=0, classes="her2stats-result")
        return f"<div><p><strong>{html.escape(self._title())}</strong></p>{table}</div>"
