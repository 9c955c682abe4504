"""Small-group suppression for aggregate tables shown to users without full access."""
import pandas as pd

SUPPRESSED = "—"


def suppress_small(frame, count_column, threshold):
    """Copy of `frame` in which rows counting fewer than `threshold` customers show "—" for
    every number (the count too: a tiny count alone can identify customers).  threshold 0 or
    None leaves the frame unchanged."""
    if not threshold or frame.empty:
        return frame
    small = frame[count_column] < threshold
    result = frame.astype(object).copy()
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    result.loc[small, numeric] = SUPPRESSED
    return result


def mask_small_cells(values, counts, threshold):
    """`values` with cells whose customer count is below `threshold` set to NaN (blank in a heatmap)."""
    if not threshold:
        return values
    return values.where(counts >= threshold)
