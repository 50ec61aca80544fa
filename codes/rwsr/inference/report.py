"""metrics.csv / metrics.json beside the results, and the table printed at the end."""
import csv
import io
import json
import math
import os

from ..metrics import METRIC_KEYS, mean_metrics
from ..utils.fs import atomic_write_text

METRICS_CSV, METRICS_JSON = "metrics.csv", "metrics.json"
COLUMNS = ("image",) + METRIC_KEYS + ("seconds",)
NO_REFERENCE_KEYS = ("niqe",)  # scores without GT: a column only when some record has one
HEADERS = {"image": "image", "psnr": "PSNR", "ssim": "SSIM", "psnr_y": "PSNR_Y", "ssim_y": "SSIM_Y",
           "lpips": "LPIPS", "niqe": "NIQE", "seconds": "time_s"}


def columns_of(records):
    """The reported columns: image, the GT metrics when any record was measured against GT, NIQE
    when any record has it, seconds."""
    measured = [key for key in METRIC_KEYS if any(key in record for record in records)]
    scored = [key for key in NO_REFERENCE_KEYS if any(key in record for record in records)]
    if not measured and not scored:
        measured = list(METRIC_KEYS)
    return ("image",) + tuple(measured) + tuple(scored) + ("seconds",)


def _json_number(value):
    """JSON has no infinity: identical images (PSNR inf) are written as the string "inf"."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _csv_cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return str(value)


def summary_row(records):
    row = mean_metrics(records, METRIC_KEYS + NO_REFERENCE_KEYS + ("seconds",))
    row["image"] = "mean"
    return row


def write_metrics(folder, records, info=None):
    """Write metrics.csv (one row per image + mean) and metrics.json; return both paths."""
    mean = summary_row(records)
    columns = columns_of(records)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in list(records) + [mean]:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    csv_path, json_path = os.path.join(folder, METRICS_CSV), os.path.join(folder, METRICS_JSON)
    atomic_write_text(csv_path, buffer.getvalue())
    document = dict(info or {})
    document["images"] = [{key: _json_number(record.get(key)) for key in columns} for record in records]
    document["mean"] = {key: _json_number(mean[key]) for key in columns if key != "image"}
    atomic_write_text(json_path, json.dumps(document, indent=2) + "\n")
    return csv_path, json_path


def _table_cell(key, value):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if key.startswith("psnr"):
        return f"{value:.2f}"
    if key == "seconds":
        return f"{value:.2f}"
    return f"{value:.4f}"


def format_table(records):
    """Aligned text table: one line per image, then the mean."""
    columns = columns_of(records)
    headers = [HEADERS[key] for key in columns]
    rows = [[_table_cell(key, row.get(key)) for key in columns] for row in list(records) + [summary_row(records)]]
    widths = [max(len(header), *(len(row[i]) for row in rows)) for i, header in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    for index, row in enumerate(rows):
        if index == len(rows) - 1:
            lines.append("-" * len(lines[0]))
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(lines)
