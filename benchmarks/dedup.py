"""Near-duplicate detection: planted pairs through prepare's real decode/hash path, and the
radius > 0 search at 1M hashes.

Part 1 (detector). Pictures are generated at run time: colourful shapes on white, coloured or
transparent backgrounds, and textures (stripes, checkers, smooth noise), 48-400 px, not
square. Each picture gets one partner file of a planted kind:

  jpeg          PNG original, JPEG copy at quality 60-95 (alpha composited on white)
  jpeg_png      JPEG original, PNG copy of its decoded pixels
  recompress    JPEG q95 original, JPEG copy at quality 60-90
  resize        copy rescaled by 0.75-0.9 or 1.1-1.3
  crop          copy with 1-4 % cut from each side
  brightness    copy with RGB scaled by 0.9-0.95 or 1.05-1.1
  colour        the same picture with its hues rotated by 60-300 degrees (recoloured icon)
  distinct      no partner (only counts against false removals)

Every file is decoded with `decode_image` at several output settings and hashed with
`pixels_to_phash` (random projections of a grey thumbnail) and, for comparison, imagehash's
DCT pHash; CIELAB thumbnails with `images_to_lab_thumbnails`. For each hash, Hamming radius,
thumbnail grid, colour on/off and thumbnail threshold: per kind the recall (planted pairs
within both thresholds), and the pairs between different pictures that would match (false
pairs: any of them could remove a distinct image).
The chosen default is then run end to end with `prepare_dataset` on the folder, and the
rejected table is scored per kind. The same counts for the bundled Fashion-MNIST demo
(real product photos, no planted copies) show how many images each radius would remove there.

Part 2 (search). `hamming_pairs` at the default radius on 1M hashes: uniform random; 20 % in
groups of ~10 near copies (centre + 3 % flipped bits), the rest uniform; all in groups of ~100
near copies (the time then follows the tens of millions of pairs returned); and perturbed copies of the demo images' hashes
(skewed bits); side by side with faiss IndexBinaryFlat's all-pairs range search (quadratic)
on the first 100k, where both must return the same pairs. With the crop check (on by default for
colour output) the search also takes each image's centre-region hash (`cleaning.candidate_pairs`
on 2N codes); it is timed on the same sets with centre codes simulated as the plain code with 5 %
of its bits flipped, except the all-clustered set, whose time follows its tens of millions of pairs.

    .venv/bin/python benchmarks/dedup.py [--pictures 60] [--hashes 1000000] [--only end_to_end search]

`--only` reruns the named parts and updates them in the existing JSON (the sweep takes longest).
"""

from __future__ import annotations

import argparse
import colorsys
import io
import json
import os
import re
import tempfile
import time
from pathlib import Path

import faiss
import imagehash
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance

from gencurate.config import PrepareConfig
from gencurate.data.cleaning import (
    THUMBNAIL_GRID,
    candidate_pairs,
    find_duplicates,
    images_to_lab_thumbnails,
    pixels_to_phash,
    thumbnail_distances,
)
from gencurate.data.hamming import hamming_pairs, packed_to_words
from gencurate.data.images import Decoded, decode_image
from gencurate.data.pipeline import prepare_dataset
from provenance import provenance

RESULT = Path(__file__).with_name("results") / "dedup.json"
DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "fashion-mnist-subset.npz"
KINDS = ("jpeg", "jpeg_png", "recompress", "resize", "crop", "brightness", "colour", "distinct")
DUPLICATE_KINDS = KINDS[:6]
SETTINGS = ((28, 1), (32, 3), (64, 3), (128, 3))  # (image_size, channels) prepare outputs
PARTS = ("sweep", "end_to_end", "demo", "search")
RADII = tuple(range(0, 17, 2))  # pHash distances are even (half the bits are set)
PIXEL_THRESHOLDS = (-1, 4, 8, 12, 16, 30)  # -1: the hash alone
THUMBNAIL_GRIDS = (4, 8)


# --- pictures ---------------------------------------------------------------------------------

def random_colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.4, 1.0))
    return int(r * 255), int(g * 255), int(b * 255)


def shape_picture(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    background = rng.choice(["transparent", "white", "colour"])
    fill = {"transparent": (0, 0, 0, 0), "white": (255, 255, 255, 255)}.get(background, (*random_colour(rng), 255))
    image = Image.new("RGBA", (w, h), fill)
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(1, 4)):
        side = min(w, h)  # prepare keeps the centred square: the shapes go there
        cx, cy = w / 2 + rng.uniform(-0.3, 0.3) * side, h / 2 + rng.uniform(-0.3, 0.3) * side
        size = rng.uniform(0.12, 0.4) * side
        colour = (*random_colour(rng), 255)
        kind = rng.integers(0, 4)
        if kind == 0:
            draw.ellipse([cx - size, cy - size * rng.uniform(0.5, 1), cx + size, cy + size], fill=colour)
        elif kind == 1:
            draw.rectangle([cx - size, cy - size * 0.6, cx + size * 0.8, cy + size], fill=colour)
        elif kind == 2:  # star
            k = int(rng.integers(5, 9))
            angles = np.linspace(0, 2 * np.pi, 2 * k, endpoint=False) + rng.uniform(0, np.pi)
            radii = np.where(np.arange(2 * k) % 2 == 0, size, size * 0.45)
            draw.polygon(list(zip(cx + radii * np.cos(angles), cy + radii * np.sin(angles))), fill=colour)
        else:  # arrow
            a = rng.uniform(0, 2 * np.pi)
            pts = np.array([[-1, -0.25], [0.2, -0.25], [0.2, -0.6], [1, 0], [0.2, 0.6], [0.2, 0.25], [-1, 0.25]]) * size
            rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
            draw.polygon([tuple(p) for p in pts @ rot.T + [cx, cy]], fill=colour)
    return image


def texture_picture(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    c1, c2 = np.array(random_colour(rng), float), np.array(random_colour(rng), float)
    kind = rng.integers(0, 3)
    if kind == 0:  # stripes
        a, period = rng.uniform(0, np.pi), rng.uniform(8, 40)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period)
    elif kind == 1:  # checker
        cell = rng.uniform(8, 40)
        t = ((xx // cell + yy // cell) % 2).astype(float)
    else:  # smooth noise
        small = rng.random((int(rng.integers(3, 7)), int(rng.integers(3, 7))))
        t = np.asarray(Image.fromarray((small * 255).astype(np.uint8)).resize((w, h), Image.Resampling.BICUBIC)) / 255.0
    pixels = c1 * t[..., None] + c2 * (1 - t[..., None])
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB").convert("RGBA")


def picture(rng: np.random.Generator) -> Image.Image:
    w = int(rng.integers(48, 401))
    h = int(round(w * rng.uniform(0.75, 1.33)))
    return shape_picture(rng, w, h) if rng.random() < 0.75 else texture_picture(rng, w, h)


def rotate_hue(image: Image.Image, shift: float) -> Image.Image:
    """Hue rotated by `shift` (fraction of a turn); saturation, value and alpha unchanged."""
    rgba = np.asarray(image.convert("RGBA"))
    hsv = np.asarray(Image.fromarray(rgba[..., :3]).convert("HSV")).copy()
    hsv[..., 0] = ((hsv[..., 0].astype(int) + int(round(shift * 256))) % 256).astype(np.uint8)
    rgb = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB"))
    return Image.fromarray(np.dstack([rgb, rgba[..., 3]]), "RGBA")


def encode(image: Image.Image, fmt: str, quality: int = 95) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        flat = Image.alpha_composite(Image.new("RGBA", image.size, (255, 255, 255, 255)), image.convert("RGBA"))
        flat.convert("RGB").save(buf, "JPEG", quality=quality)
    else:
        image.save(buf, "PNG")
    return buf.getvalue()


def pair_files(rng: np.random.Generator, kind: str) -> list[tuple[str, bytes]]:
    """(suffix, bytes) of a picture and, unless `distinct`, its partner of `kind`."""
    base = picture(rng)
    if kind == "jpeg_png":
        original = encode(base, "JPEG", int(rng.integers(80, 96)))
        with Image.open(io.BytesIO(original)) as im:
            return [(".jpg", original), (".png", encode(im.convert("RGB"), "PNG"))]
    if kind == "recompress":
        original = encode(base, "JPEG", 95)
        with Image.open(io.BytesIO(original)) as im:
            return [(".jpg", original), (".jpg", encode(im.convert("RGB"), "JPEG", int(rng.integers(60, 91))))]
    files = [(".png", encode(base, "PNG"))]
    w, h = base.size
    if kind == "jpeg":
        files.append((".jpg", encode(base, "JPEG", int(rng.integers(60, 96)))))
    elif kind == "resize":
        f = rng.choice([rng.uniform(0.75, 0.9), rng.uniform(1.1, 1.3)])
        files.append((".png", encode(base.resize((round(w * f), round(h * f)), Image.Resampling.LANCZOS), "PNG")))
    elif kind == "crop":
        cut = rng.uniform(0.01, 0.04, 4)
        box = (round(w * cut[0]), round(h * cut[1]), w - round(w * cut[2]), h - round(h * cut[3]))
        files.append((".png", encode(base.crop(box), "PNG")))
    elif kind == "brightness":
        f = rng.choice([rng.uniform(0.9, 0.95), rng.uniform(1.05, 1.1)])
        alpha = base.getchannel("A")
        brighter = ImageEnhance.Brightness(base.convert("RGB")).enhance(f).convert("RGBA")
        brighter.putalpha(alpha)
        files.append((".png", encode(brighter, "PNG")))
    elif kind == "colour":
        files.append((".png", encode(rotate_hue(base, rng.uniform(60, 300) / 360), "PNG")))
    return files


def write_collection(root: Path, pictures: int, seed: int) -> list[tuple[str, str, int]]:
    """`pictures` groups per kind under `root`; returns (file name, kind, group) in file-name order
    (the original sorts before its partner, so prepare keeps the original)."""
    rng = np.random.default_rng(seed)
    rows = []
    group = 0
    for kind in KINDS:
        for _ in range(pictures * (4 if kind == "distinct" else 1)):
            for k, (suffix, data) in enumerate(pair_files(rng, kind)):
                name = f"g{group:05d}_{'ab'[k]}{suffix}"
                (root / name).write_bytes(data)
                rows.append((name, kind, group))
            group += 1
    return sorted(rows)


# --- detector sweep ---------------------------------------------------------------------------

def signatures(root: Path, names: list[str], size: int, channels: int) -> dict[str, np.ndarray]:
    """Through prepare's decoder: (N, 8) uint8 hashes of both kinds and per grid (N, grid*grid, 3) CIELAB thumbnails."""
    pixels = []
    for name in names:
        result = decode_image((root / name).read_bytes(), image_size=size, channels=channels, min_size=8,
                              max_image_pixels=89_478_485)
        assert isinstance(result, Decoded), (name, result)
        pixels.append(result.pixels)
    pixels = np.stack(pixels)
    out = {"phash": np.stack([np.frombuffer(pixels_to_phash(p), np.uint8) for p in pixels]),
           "dct_phash": np.stack([dct_phash(p) for p in pixels])}
    return out | {f"lab{g}": images_to_lab_thumbnails(pixels, grid=g) for g in THUMBNAIL_GRIDS}


def dct_phash(pixels: np.ndarray) -> np.ndarray:
    """The alternative candidate hash: imagehash's DCT pHash (8x8 low-frequency signs vs their median)."""
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    return np.packbits(imagehash.phash(image).hash.reshape(-1))


def sweep(sig: dict[str, np.ndarray], kinds: np.ndarray, groups: np.ndarray) -> list[dict]:
    """Recall per kind and false pairs for every (hash, radius, thumbnail grid, colour, threshold)."""
    rows = []
    for hash_name in ("phash", "dct_phash"):
        rows += [{"hash": "random_projection" if hash_name == "phash" else "imagehash_dct_phash", **row}
                 for row in _sweep_hash(sig, sig[hash_name], kinds, groups)]
    return rows


def _sweep_hash(sig: dict[str, np.ndarray], codes: np.ndarray, kinds: np.ndarray, groups: np.ndarray) -> list[dict]:
    n = len(kinds)
    i, j = np.triu_indices(n, 1)
    words = packed_to_words(codes)
    hamming = np.bitwise_count(words[i] ^ words[j])
    same = groups[i] == groups[j]
    pair_kind = kinds[i]
    rows = []
    for grid in THUMBNAIL_GRIDS:
        for colour in (True, False):
            dist = thumbnail_distances(sig[f"lab{grid}"][i], sig[f"lab{grid}"][j], colour=colour)
            for t in PIXEL_THRESHOLDS:
                if t == -1 and (grid, colour) != (THUMBNAIL_GRIDS[0], True):
                    continue  # the hash alone: grid and colour do not matter
                pixel_ok = np.ones(len(i), bool) if t < 0 else dist <= t
                for r in RADII:
                    hit = (hamming <= r) & pixel_ok
                    row = {"radius": r, "grid": None if t < 0 else grid, "colour": None if t < 0 else colour,
                           "pixel_threshold": t, "false_pairs": int((hit & ~same).sum())}
                    for kind in KINDS[:-1]:
                        row[f"recall_{kind}"] = round(float(hit[same & (pair_kind == kind)].mean()), 4)
                    rows.append(row)
    return rows


def planted_distances(sig: dict[str, np.ndarray], kinds: np.ndarray, groups: np.ndarray) -> dict:
    """Per kind: hash and thumbnail distances of the planted pairs; nearest distinct pair."""
    a = np.flatnonzero(np.r_[groups[1:] == groups[:-1], False])
    words = packed_to_words(sig["phash"])
    lab = sig[f"lab{THUMBNAIL_GRID}"]
    out = {}
    for kind in KINDS[:-1]:
        k = a[kinds[a] == kind]
        ham = np.bitwise_count(words[k] ^ words[k + 1])
        pix = thumbnail_distances(lab[k], lab[k + 1], colour=True)
        dct = packed_to_words(sig["dct_phash"])
        ham_dct = np.bitwise_count(dct[k] ^ dct[k + 1])
        out[kind] = {"hash_median": float(np.median(ham)), "hash_max": int(ham.max()),
                     "dct_phash_median": float(np.median(ham_dct)), "dct_phash_max": int(ham_dct.max()),
                     "pixel_median": round(float(np.median(pix)), 1), "pixel_max": round(float(pix.max()), 1)}
    i, j = np.triu_indices(len(kinds), 1)
    other = groups[i] != groups[j]
    out["distinct_min_hash"] = int(np.bitwise_count(words[i[other]] ^ words[j[other]]).min())
    return out


def end_to_end(root: Path, table: list[tuple[str, str, int]], size: int, channels: int) -> dict:
    """prepare_dataset on the folder with the default dedup params; removals scored per kind."""
    config = PrepareConfig(source=str(root), image_size=size, channels=channels, use_source_split=False, workers=1)
    with tempfile.TemporaryDirectory() as out:
        result = prepare_dataset(config, images_path=Path(out) / "images.npy", demo_path=DEMO)
    rejected = result.rejected
    removed = {Path(s).name: reason for s, reason in zip(rejected["source"], rejected["reason"])}
    kind_of = {name: kind for name, kind, _ in table}
    out = {"removed": len(removed), "reasons": sorted(set(removed.values()))}
    for kind in KINDS:
        partners = [n for n, k, _ in table if k == kind and "_b" in n]
        originals = [n for n, k, _ in table if k == kind and "_a" in n]
        out[f"{kind}_copies_removed"] = f"{sum(n in removed for n in partners)}/{len(partners)}"
        out[f"{kind}_originals_removed"] = sum(n in removed for n in originals)
    out["distinct_removed"] = sum(kind_of[n] == "distinct" for n in removed)
    # Precision: removals that are planted copies of a duplicate kind (colour variants count as
    # duplicates only when the colour check is off) over all removals; recall per kind above.
    copy_kinds = DUPLICATE_KINDS + (() if config.near_duplicate_colour else ("colour",))
    true = sum(kind_of[n] in copy_kinds and "_b" in n for n in removed)
    out["precision"] = round(true / max(1, len(removed)), 4)
    for kind in DUPLICATE_KINDS + ("colour",):
        partners = [n for n, k, _ in table if k == kind and "_b" in n]
        out[f"recall_{kind}"] = round(sum(n in removed for n in partners) / len(partners), 4)
    return out


def demo_counts(radii: tuple[int, ...], thresholds: tuple[float, ...]) -> tuple[dict, np.ndarray]:
    """Fashion-MNIST demo (28x28 grey, no planted copies): removals per radius and thumbnail threshold."""
    with np.load(DEMO) as z:
        images = z["images"][..., None]
    phashes = np.stack([np.frombuffer(pixels_to_phash(x), np.uint8) for x in images])
    digests = np.arange(len(images), dtype="<u4").view(np.uint8).reshape(-1, 4)  # all distinct: near only
    out: dict = {"images": len(images)}
    for r in radii:
        for t in thresholds:
            m = find_duplicates(digests, np.ones(len(images), bool), phashes, images, max_distance=r,
                                max_pixel_distance=t, colour=True, centre_phashes=None)
            out[f"removed_radius_{r}_pixel_{t}"] = len(m)
    return out, phashes


# --- search timing ----------------------------------------------------------------------------

def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def hash_sets(n: int, demo_phashes: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    flips = lambda k, p: np.packbits(rng.random((k, 64)) < p, axis=1)
    centres = rng.integers(0, 256, (n // 100, 8), dtype=np.uint8)
    uniform = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    some = uniform.copy()  # a fifth of the hashes in groups of ~10 near copies, the rest unrelated
    grouped = rng.random(n) < 0.2
    small_centres = rng.integers(0, 256, (int(grouped.sum()) // 10, 8), dtype=np.uint8)
    some[grouped] = small_centres[rng.integers(0, len(small_centres), grouped.sum())] ^ flips(int(grouped.sum()), 0.03)
    return {
        "uniform": uniform,
        "some_clustered": some,
        "clustered": centres[rng.integers(0, len(centres), n)] ^ flips(n, 0.03),  # every hash has ~100 near copies
        "demo_phash_perturbed": demo_phashes[rng.integers(0, len(demo_phashes), n)] ^ flips(n, 0.2),
    }


def faiss_pairs(codes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    index = faiss.IndexBinaryFlat(64)
    index.add(codes)
    lims, _, ids = index.range_search(codes, radius + 1)  # faiss keeps distances strictly below
    rows = np.repeat(np.arange(len(codes)), np.diff(lims.astype(np.int64)))
    keep = rows < ids
    return rows[keep], ids[keep].astype(np.int64)


def search_timing(n: int, radius: int, demo_phashes: np.ndarray, reference_n: int) -> dict:
    out = {"radius": radius, "hashes": n, "threads": faiss.omp_get_max_threads()}
    rng = np.random.default_rng(2)
    for name, codes in hash_sets(n, demo_phashes, seed=1).items():
        if name != "clustered":
            centre = codes ^ np.packbits(rng.random((n, 64)) < 0.05, axis=1)
            (ci, _, _), centre_seconds = timed(candidate_pairs, codes, centre, radius=radius)
            out[f"{name}_with_centre_codes"] = {"seconds": round(centre_seconds, 2), "pairs": len(ci)}
            print(f"search {name} with centre codes: {centre_seconds:.1f} s, {len(ci)} pairs", flush=True)
        (i, _, _), seconds = timed(hamming_pairs, codes, radius=radius)
        (ri, rj, _), ours_ref = timed(hamming_pairs, codes[:reference_n], radius=radius)
        (fi, fj), faiss_ref = timed(faiss_pairs, np.ascontiguousarray(codes[:reference_n]), radius)
        order = np.lexsort((fj, fi))
        same = np.array_equal(ri, fi[order]) and np.array_equal(rj, fj[order])
        out[name] = {"seconds": round(seconds, 2), "pairs": len(i),
                     f"ours_seconds_at_{reference_n}": round(ours_ref, 3),
                     f"faiss_flat_seconds_at_{reference_n}": round(faiss_ref, 3),
                     "speedup_vs_faiss_flat": round(faiss_ref / ours_ref, 1),
                     "same_pairs_as_faiss_flat": bool(same)}
        print(f"search {name}: {n} hashes at radius {radius}: {seconds:.1f} s, {len(i)} pairs; at {reference_n}: "
              f"ours {ours_ref:.2f} s vs faiss flat {faiss_ref:.2f} s, same pairs: {same}", flush=True)
    return out


def to_json(result: dict) -> str:
    """Indented JSON with each sweep row on one line (thousands of rows stay readable in a diff)."""
    text = json.dumps(result, indent=1)
    return re.sub(r'\{\n\s+("hash"[^{}]*?)\n\s+\}', lambda m: "{" + " ".join(m.group(1).split()) + "}", text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pictures", type=int, default=60, help="planted pairs per kind (distinct: 4x)")
    parser.add_argument("--hashes", type=int, default=1_000_000)
    parser.add_argument("--reference", type=int, default=100_000, help="hashes for the side-by-side faiss flat run")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS),
                        help="parts to rerun; the others are kept from the existing JSON")
    args = parser.parse_args()
    defaults = PrepareConfig()
    partial = set(args.only) != set(PARTS)
    result: dict = json.loads(RESULT.read_text()) if partial else {}
    run = {"machine" if not partial else f"machine_{'_'.join(args.only)}": provenance()}
    result |= run | {"defaults": {"near_duplicate_distance": defaults.near_duplicate_distance,
                                  "near_duplicate_pixel_distance": defaults.near_duplicate_pixel_distance,
                                  "near_duplicate_colour": defaults.near_duplicate_colour,
                                  "near_duplicate_crop": defaults.near_duplicate_crop,
                                  "thumbnail_grid": THUMBNAIL_GRID}}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        table = write_collection(root, args.pictures, seed=0)
        names = [n for n, _, _ in table]
        kinds = np.array([k for _, k, _ in table])
        groups = np.array([g for _, _, g in table])
        result["collection"] = {"files": len(names), "pictures_per_kind": args.pictures,
                                "distinct_pictures": int((kinds == "distinct").sum())}
        for size, channels in SETTINGS if {"sweep", "end_to_end"} & set(args.only) else ():
            key = f"{size}px_{channels}ch"
            part = result.setdefault(key, {})
            if "sweep" in args.only:
                sig = signatures(root, names, size, channels)
                part |= {"planted": planted_distances(sig, kinds, groups), "sweep": sweep(sig, kinds, groups)}
                print(f"{key}: planted {part['planted']}")
            if "end_to_end" in args.only:
                part["end_to_end_at_defaults"] = end_to_end(root, table, size, channels)
                print(f"{key}: end to end at the defaults: {part['end_to_end_at_defaults']}", flush=True)
    if "demo" in args.only:
        result["demo_fashion_mnist"], demo_phashes = demo_counts((0, 4, 6, 8), (-1, 8, 12))
        print(f"demo: {result['demo_fashion_mnist']}", flush=True)
    if "search" in args.only and args.hashes:
        if "demo" not in args.only:
            with np.load(DEMO) as z:
                demo_phashes = np.stack([np.frombuffer(pixels_to_phash(x), np.uint8) for x in z["images"][..., None]])
        result["search"] = search_timing(args.hashes, defaults.near_duplicate_distance, demo_phashes, args.reference)
    result[next(iter(run))]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(to_json(result))
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
