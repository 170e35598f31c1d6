"""Tables and JSON lines for the results."""

import json
import time
from pathlib import Path

from .env import RESULTS


def table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    """Render *rows* as a plain-text table; *columns* is [(key, heading), ...]."""
    cells = [[heading for _, heading in columns]]
    for row in rows:
        cells.append([fmt(row.get(key)) for key, _ in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = []
    for n, line in enumerate(cells):
        lines.append("  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def save(name: str, result: dict) -> Path:
    """Write *result* to bench/results/<name>-<time>.json and print it as one line."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, default=str, separators=(",", ":")))
    return path


def ratio(a: float | None, b: float | None) -> float | None:
    if not a or not b:
        return None
    return round(a / b, 3)


def print_profile(title: str, profile: dict | None, top: int = 12) -> None:
    """Print the hottest frames of a py-spy summary (see servers.summarize_profile)."""
    if not profile or not profile.get("samples"):
        return
    print(f"{title}: py-spy, {profile['samples']} samples of the GIL holder ({profile['file']})")
    print("  self %   frame")
    for frame, share in profile["self"][:top]:
        print(f"  {share:6.1f}   {frame}")
    print("  total %  frame")
    for frame, share in profile["inclusive"][: top * 2]:
        print(f"  {share:6.1f}   {frame}")
