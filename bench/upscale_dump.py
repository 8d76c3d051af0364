#!/usr/bin/python3
"""Copies a benchmark dump with every picture enlarged, as JPEG.

    /usr/bin/python3 bench/upscale_dump.py SRC_DUMP SRC_TRUTH OUT [--long-side 1920]

Each still picture of SRC_DUMP (JPEG or PNG) whose longer side is below
--long-side is enlarged (bicubic, aspect kept) so that its longer side is
--long-side, and written as a JPEG of quality 92 under OUT/dump at the same
relative path with the suffix .jpg; videos and larger pictures are left out.
OUT/truth.csv is SRC_TRUTH's rows for the files written, renamed alike.

The leak benchmark's dumps are made at the references' own sizes (480p to
720p); a real dump holds 1080p and 4K copies too, which celmatch decodes at
a reduced DCT scale (Matcher::kFeatureDecodeMinSide). This dump measures
that path against the same truth. A picture with transparency is flattened
on black (JPEG has no alpha), so the cel families score here as flattened
cels, not as transparent ones.
"""
import argparse
import csv
import os
import sys

import cv2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src_dump")
    ap.add_argument("src_truth")
    ap.add_argument("out")
    ap.add_argument("--long-side", type=int, default=1920)
    args = ap.parse_args()
    with open(args.src_truth, newline="") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        rows = list(reader)
    os.makedirs(os.path.join(args.out, "dump"), exist_ok=True)
    kept = []
    for row in rows:
        src = os.path.join(args.src_dump, row["file"])
        stem, ext = os.path.splitext(row["file"])
        if ext.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        img = cv2.imread(src, cv2.IMREAD_COLOR)
        if img is None:
            print(f"{src}: not readable, left out", file=sys.stderr)
            continue
        longer = max(img.shape[:2])
        if longer >= args.long_side:
            continue
        f = args.long_side / longer
        big = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
        name = stem + ".jpg"
        dst = os.path.join(args.out, "dump", name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        cv2.imwrite(dst, big, [cv2.IMWRITE_JPEG_QUALITY, 92])
        kept.append(dict(row, file=name))
    with open(os.path.join(args.out, "truth.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, lineterminator="\n")
        w.writeheader()
        w.writerows(kept)
    print(f"{len(kept)} of {len(rows)} files written to {args.out}")


if __name__ == "__main__":
    main()
