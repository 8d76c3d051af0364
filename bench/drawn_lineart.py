#!/usr/bin/env python3
# Real drawn line art against colour renders without their lines, from Tux
# Paint's colouring-book starters (Debian tuxpaint-data: hand-drawn outlines,
# transparent where there is no ink; bench/drawn_lineart.sh rasterises the
# ones drawn as SVG). Each starter's enclosed regions are filled with a
# seeded colour; RENDER "lines" keeps the drawing's ink on top (a cel with its
# outlines), "nolines" gives each ink pixel the colour of the nearest region
# (a render whose picture has no drawn line left: only the borders between
# colours remain, and strokes inside a region vanish). The render is the reference; the
# drawing itself is the query ("lines"), and again as a scan ("lines_scan":
# a tinted paper, a small rotation and scale, JPEG). Every fourth starter is
# left out of the references: its drawings are distractors.
#
# Usage: /usr/bin/python3 bench/drawn_lineart.py STARTERS_DIR OUT [SEED [RENDER]]
#   writes OUT/ref/Starters/NAME.png, OUT/dump/NAME_TRANSFORM.EXT, OUT/truth.csv
#   (the columns of `celmatch bench score --truth`)
import csv, glob, os, random, sys

import cv2
import numpy as np

starters, out = sys.argv[1], sys.argv[2]
seed = int(sys.argv[3]) if len(sys.argv) > 3 else 5
render = sys.argv[4] if len(sys.argv) > 4 else "nolines"
if render not in ("lines", "nolines"):
    sys.exit(f"RENDER must be lines or nolines, not {render}")
rng = random.Random(seed)
# Photographs, grids, frames, maps and puzzles are not line drawings.
not_drawings = ("grid_", "jigsaw", "frame_", "worldmap", "mosaic", "chessboard", "reef", "skyline", "spirograph")
names = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(starters, "*.png"))
               if "-back" not in p and not os.path.basename(p).startswith(not_drawings))
if not names:
    sys.exit(f"no starter drawings in {starters} (apt-get install tuxpaint-data)")
os.makedirs(os.path.join(out, "ref", "Starters"), exist_ok=True)
os.makedirs(os.path.join(out, "dump"), exist_ok=True)


def drawing(path):
    im = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if im.ndim == 2:
        im = cv2.cvtColor(im, cv2.COLOR_GRAY2BGRA)
    if im.shape[2] == 3:
        im = np.dstack([im, np.full(im.shape[:2], 255, np.uint8)])
    a = im[:, :, 3:4] / 255.0
    return (im[:, :, :3] * a + 255 * (1 - a)).astype(np.uint8)


def colour_render(lines):
    ink = cv2.cvtColor(lines, cv2.COLOR_BGR2GRAY) < 160
    count, regions = cv2.connectedComponents((~ink).astype(np.uint8), connectivity=4)
    palette = np.array([[rng.randint(40, 250) for _ in range(3)] for _ in range(count)], np.uint8)
    # Each ink pixel takes the region of the nearest paper pixel.
    _, nearest = cv2.distanceTransformWithLabels(ink.astype(np.uint8), cv2.DIST_L2, 3,
                                                 labelType=cv2.DIST_LABEL_PIXEL)
    region_of_label = np.zeros(nearest.max() + 1, np.int32)
    region_of_label[nearest[~ink]] = regions[~ink]
    filled = regions.copy()
    filled[ink] = region_of_label[nearest[ink]]
    colour = palette[filled]
    if render == "lines":
        colour[ink] = lines[ink]
    return cv2.GaussianBlur(colour, (3, 3), 0)


def scan(lines):
    h, w = lines.shape[:2]
    paper = np.array([rng.randint(215, 245), rng.randint(225, 250), rng.randint(230, 255)], np.float32)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-2.5, 2.5), rng.uniform(0.75, 0.95))
    warped = cv2.warpAffine(lines, m, (w, h), borderValue=(255, 255, 255)).astype(np.float32)
    out = warped / 255.0 * paper + np.random.default_rng(rng.randint(0, 1 << 30)).normal(0, 4, warped.shape)
    return np.clip(out, 0, 255).astype(np.uint8)


rows = []
for i, name in enumerate(names):
    lines = drawing(os.path.join(starters, name + ".png"))
    distractor = i % 4 == 3
    if not distractor:
        cv2.imwrite(os.path.join(out, "ref", "Starters", name + ".png"), colour_render(lines))
    for transform, pixels, ext, params in (("lines", lines, ".png", []),
                                           ("lines_scan", scan(lines), ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 80])):
        file = f"{name}_{transform}{ext}"
        cv2.imwrite(os.path.join(out, "dump", file), pixels, params)
        rows.append([file, "" if distractor else "Starters", "" if distractor else name + ".png",
                     "" if distractor else 0, transform, int(distractor)])
with open(os.path.join(out, "truth.csv"), "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["file", "production", "source", "time", "transform", "distractor"])
    w.writerows(rows)
print(f"{len(names)} drawings: {sum(1 for n in range(len(names)) if n % 4 != 3)} references, "
      f"{len(rows)} queries in {out}")
