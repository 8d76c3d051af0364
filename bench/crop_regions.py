#!/usr/bin/python3
"""How well celmatch reports the region a crop shows.

  crop_regions.py make FOOTAGE OUT SEED   cut seeded crops of frames of the four
                                          benchmark productions into OUT, their
                                          boxes in OUT/boxes.json
  crop_regions.py score OUT RESULTS...    for each results file (celmatch match
                                          JSON Lines over OUT), the crops placed by
                                          local features and how far their
                                          reported regions are from the boxes

Crops are 25-70% of a frame's area (one side, or both at once), anywhere;
frames are decoded by OpenCV (another decoder than the index's). Run by
bench/crop_regions.sh; figures in bench/RESULTS.md.
"""
import json
import random
import sys

VIDEOS = [
    "sintel/ffmpegc_sintel_26s.mp4",
    "big_buck_bunny/moviepy_bbb_0_30.webm",
    "penny_and_chip_toasttv/penny_and_chip_autumn.mp4",
    "steamboat_willie/steamboat.mp4",
]
PER_VIDEO = 15


def make(footage, out, seed):
    import cv2
    rng = random.Random(seed)
    boxes = {}
    n = 0
    for video in VIDEOS:
        cap = cv2.VideoCapture(f"{footage}/{video}")
        frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        for _ in range(PER_VIDEO):
            cap.set(cv2.CAP_PROP_POS_FRAMES, rng.randrange(frames))
            ok, frame = cap.read()
            if not ok:
                continue
            height, width = frame.shape[:2]
            share = rng.choice([0.25, 0.35, 0.5, 0.7])
            # Half of the crops keep the frame's shape (both sides cut), half its height.
            w = int(width * share ** 0.5) if rng.random() < 0.5 else int(width * share)
            h = int(w * height / width)
            x = rng.randrange(width - w + 1)
            y = rng.randrange(height - h + 1)
            name = f"{out}/crop{n:03d}.png"
            cv2.imwrite(name, frame[y:y + h, x:x + w])
            boxes[name] = [x, y, w, h]
            n += 1
    with open(f"{out}/boxes.json", "w") as f:
        json.dump(boxes, f, indent=0)
    print(f"{n} crops in {out}")


def iou(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def score(out, results):
    with open(f"{out}/boxes.json") as f:
        boxes = json.load(f)
    print(f"{'results':40s} {'matched':>8s} {'placed':>7s} {'IoU median':>11s} {'IoU p10':>8s} {'IoU min':>8s}"
          f" {'width err median':>17s} {'p90':>6s} {'max':>6s}")
    for path in results:
        reported = {}
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                if "file" in record:
                    reported[record["file"]] = record
        matched, ious, width_errors = 0, [], []
        for name, box in boxes.items():
            record = reported.get(name)
            if not record or not record["matches"]:
                continue
            matched += 1
            best = record["matches"][0]
            if "region" not in best or best["evidence"].get("inliers", 0) == 0:
                continue
            ious.append(iou(box, best["region"]))
            width_errors.append(abs(best["region"][2] - box[2]) / box[2])
        if not ious:
            print(f"{path:40s} {matched:8d} {0:7d}")
            continue
        ious.sort()
        width_errors.sort()
        n = len(ious)
        print(f"{path:40s} {matched:8d} {n:7d} {ious[n // 2]:11.3f} {ious[n // 10]:8.3f} {ious[0]:8.3f}"
              f" {100 * width_errors[n // 2]:16.1f}% {100 * width_errors[9 * n // 10]:5.1f}%"
              f" {100 * width_errors[-1]:5.1f}%")


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
