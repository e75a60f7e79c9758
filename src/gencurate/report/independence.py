"""The encoder-independence section: how alike the selection and evaluation spaces see the train split."""

from __future__ import annotations

import json
from pathlib import Path

from gencurate.metrics import independence as I


def independence_section(path: str | Path) -> str:
    """Markdown table from the independence stage's JSON, or a line saying it has not run."""
    path = Path(path)
    head = "## Encoder independence"
    if not path.is_file():
        return f"{head}\n\nNo independence measurement ({path} missing): run `gencurate independence`."
    data = json.loads(path.read_text())
    k, n = data[I.NEIGHBOURS], data[I.N_IMAGES]
    spaces = "; ".join(f"{name}: {s[I.GEOMETRY]}, {s[I.DIM]}-d" for name, s in data[I.SPACES].items())
    lines = [f"| space A | space B | {k}-NN overlap (mean) | median | chance | typicality Spearman ρ |",
             "|---|---|---|---|---|---|"]
    for p in data[I.PAIRS]:
        lines.append(f"| {p[I.SPACE_A]} | {p[I.SPACE_B]} | {p[I.OVERLAP_MEAN]:.3f} | {p[I.OVERLAP_MEDIAN]:.2f} | "
                     f"{p[I.OVERLAP_CHANCE]:.4f} | {p[I.SPEARMAN]:.3f} |")
    return "\n\n".join([
        head,
        f"If the evaluation encoder saw the images as the selection encoder does, the metrics would reward the "
        f"selector's own geometry. Over the {n} train images: the share of each image's {k} nearest neighbours "
        f"that two spaces have in common (1 = same neighbourhoods, chance = {k}/(N-1)), and the Spearman "
        f"correlation of typicality (1 / mean distance to the {data[I.TYPICALITY_K]} nearest neighbours) computed "
        f"in each. Each space is searched in the geometry it is used with ({spaces}).",
        "\n".join(lines),
    ])
