"""The rating web app (FastAPI): a static page, random pairs, images by reference, votes.

Routes:
- `GET /` and `GET /static/{name}`: the page (files of the package, looked up by name);
- `GET /api/config`: the default rater and the models being rated;
- `GET /api/pair`: the next pair, `{"left": ref, "right": ref}` with ref = method/seed/index/url;
- `GET /api/image/{method}/{seed}/{index}.png`: one sample, enlarged (nearest neighbour);
- `POST /api/vote`: `{"left": ref, "right": ref, "answer": "left"|"right"|"unsure", "rater"?}`.

Every reference is checked against the loaded sample arrays; a bad request gets a 4xx
with a message and changes nothing.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from gencurate.rate import votes as V
from gencurate.rate.pairs import PairSampler
from gencurate.rate.samples import ImageRef, ModelKey, resolve_ref, sample_to_png

RATER_PATTERN = r"^[\w .@+-]+$"  # letters, digits, space and . @ + - _ : safe in a CSV cell and a log
RATER_MAX_LEN = 64
RaterName = Annotated[str, Field(min_length=1, max_length=RATER_MAX_LEN, pattern=RATER_PATTERN)]
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".js": "text/javascript; charset=utf-8"}


class RefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: str = Field(min_length=1, max_length=64)
    seed: int = Field(ge=0)
    index: int = Field(ge=0)


class VoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    left: RefIn
    right: RefIn
    answer: Literal["left", "right", "unsure"]
    rater: RaterName | None = None


def check_rater(name: str) -> str:
    """A rater name as the page would accept it, or a one-line `ValueError`."""
    try:
        TypeAdapter(RaterName).validate_python(name)
    except ValidationError:
        raise ValueError(
            f"rater name {name!r}: use 1-{RATER_MAX_LEN} letters, digits, spaces or . @ + - _"
        ) from None
    return name


def _static_files() -> dict[str, bytes]:
    """The page's files, read once from the package (requests never name a filesystem path)."""
    root = resources.files("gencurate.rate") / "static"
    return {p.name: p.read_bytes() for p in root.iterdir() if p.name.endswith(tuple(STATIC_TYPES))}


def create_app(
    *,
    samples: dict[ModelKey, np.ndarray],
    votes_csv: str | Path,
    default_rater: str,
    pair_seed: int | None = None,
) -> FastAPI:
    """The rating app over `samples` ({(method, seed): (n, H, W, C) uint8}), voting into `votes_csv`.

    `pair_seed` fixes the sequence of pairs (tests); None draws fresh pairs each run.
    """
    votes_csv = Path(votes_csv)
    check_rater(default_rater)
    sampler = PairSampler(sizes={k: int(v.shape[0]) for k, v in samples.items()}, seed=pair_seed)
    static = _static_files()

    app = FastAPI(title="gencurate rate", docs_url=None, redoc_url=None, openapi_url=None)

    def lookup(method: str, model_seed: int, index: int, side: str = "") -> ImageRef:
        try:
            return resolve_ref(samples, method, model_seed, index)
        except LookupError as err:
            raise HTTPException(status_code=404 if not side else 422, detail=f"{side}{err}") from None

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(static["index.html"])

    @app.get("/static/{name}")
    def static_file(name: str) -> Response:
        if name not in static:
            raise HTTPException(status_code=404, detail=f"no static file {name!r}")
        return Response(static[name], media_type=STATIC_TYPES[Path(name).suffix])

    @app.get("/api/config")
    def config() -> dict:
        models = [{"method": m, "seed": s, "count": int(a.shape[0])} for (m, s), a in samples.items()]
        return {"rater": default_rater, "methods": sampler.methods, "models": models}

    @app.get("/api/pair")
    def pair() -> dict:
        left, right = sampler.draw()
        return {"left": left.as_dict(), "right": right.as_dict()}

    @app.get("/api/image/{method}/{seed}/{index}.png")
    def image(method: str, seed: int, index: int) -> Response:
        ref = lookup(method, seed, index)
        png = sample_to_png(samples[(ref.method, ref.seed)][ref.index])
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})  # re-sampled models reuse URLs

    @app.post("/api/vote")
    def vote(body: VoteIn) -> dict:
        left = lookup(body.left.method, body.left.seed, body.left.index, side="left: ")
        right = lookup(body.right.method, body.right.seed, body.right.index, side="right: ")
        if left.method == right.method:
            raise HTTPException(status_code=422, detail=f"both sides show method {left.method!r}; "
                                                        "a vote compares two different methods")
        row = {
            V.RATER: body.rater or default_rater,
            V.TIMESTAMP: V.utc_timestamp(),
            V.LEFT_METHOD: left.method, V.LEFT_SEED: left.seed, V.LEFT_INDEX: left.index,
            V.RIGHT_METHOD: right.method, V.RIGHT_SEED: right.seed, V.RIGHT_INDEX: right.index,
            V.ANSWER: body.answer,
        }
        V.append_vote(votes_csv, row)  # file-locked: safe across worker threads and processes
        return {"recorded": row}

    return app
