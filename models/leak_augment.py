"""Leak damage as image transforms, for training and evaluating celmatch's embedding.

Two uses:
  * RandomLeak: the training augmentation. Every call draws a new chain of
    damages (crop down to ~25% area, line art, colour changes, annotations,
    blanked layer, pasting onto a sheet, blur, noise, JPEG...) from a seeded
    numpy Generator, so a seeded run repeats exactly.
  * NAMED_TRANSFORMS / apply_named: fixed-strength transforms named as
    bench/leaks/leak_transforms.cpp names them ("crop25", "lineart", ...), for
    the held-out evaluation. They follow the C++ parameters so the figures in
    the model card speak of the same damage as the leak benchmark.

Images are BGR uint8 numpy arrays (OpenCV's layout) throughout.
"""
import math

import cv2
import numpy as np

PENS = [(0, 0, 230), (220, 60, 0), (0, 170, 0), (200, 0, 200), (0, 140, 255)]
NOTES = ["fix!", "NG", "hand off model", "too dark", "retake", "lip sync?", "SC 012 CUT 4"]


def _resize(img, w, h):
    w, h = max(1, int(round(w))), max(1, int(round(h)))
    interp = cv2.INTER_AREA if w * h < img.shape[1] * img.shape[0] else cv2.INTER_LINEAR
    return cv2.resize(img, (w, h), interpolation=interp)


def line_art(img):
    """Dark lines on white where colour regions meet, as bench/leaks draws it."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    gray = cv2.GaussianBlur(gray, (3, 3), 0)
    edges = cv2.Canny(gray, 40, 120)
    edges = cv2.dilate(edges, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2, 2)))
    return cv2.cvtColor(255 - edges, cv2.COLOR_GRAY2BGR)


def _ink(lines, ink, paper):
    """Lines (a bool mask) in `ink` on a flat `paper` colour."""
    out = np.empty(lines.shape + (3,), np.uint8)
    out[:] = paper
    out[lines] = ink
    return out


def _widen(lines, width):
    if width <= 1:
        return lines
    return cv2.dilate(lines.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))) > 0


def lines_canny_flat(img, rng):
    """Canny on a mean-shift-flattened picture, thresholds and width drawn."""
    h, w = img.shape[:2]
    flat = cv2.pyrMeanShiftFiltering(_resize(img, w / 2, h / 2), rng.uniform(6, 14), rng.uniform(12, 30))
    flat = cv2.resize(flat, (w, h), interpolation=cv2.INTER_LINEAR)
    lo = rng.uniform(15, 60)
    edges = cv2.Canny(cv2.cvtColor(flat, cv2.COLOR_BGR2GRAY), lo, lo * rng.uniform(2, 3)) > 0
    return _ink(_widen(edges, int(rng.integers(1, 4))), (20, 20, 20), (255, 255, 255))


def lines_xdog(img, rng):
    """XDoG (Winnemoeller et al. 2012): a sharpened difference of Gaussians, softly thresholded."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32) / 255.0
    px = max(0.5, img.shape[1] / 640.0)
    sigma, p = rng.uniform(0.6, 1.4) * px, rng.uniform(15, 30)
    eps, phi = rng.uniform(0.12, 0.35), rng.uniform(8, 20)
    d = (1 + p) * cv2.GaussianBlur(g, (0, 0), sigma) - p * cv2.GaussianBlur(g, (0, 0), sigma * 1.6)
    v = np.where(d >= eps, 1.0, 1.0 + np.tanh(phi * (d - eps)))
    return cv2.cvtColor(np.clip(255 * v, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def lines_colour(img, rng):
    """Region borders in one pencil colour, or in each region's darkened colour."""
    blurred = cv2.GaussianBlur(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), (0, 0), 1.0)
    lo = rng.uniform(25, 60)
    edges = _widen(cv2.Canny(blurred, lo, lo * 2.5) > 0, int(rng.integers(1, 4)))
    if rng.random() < 0.5:
        pencil = [(40, 40, 210), (200, 90, 30), (40, 150, 40)][int(rng.integers(0, 3))]
        return _ink(edges, pencil, (255, 255, 255))
    out = np.full_like(img, 255)
    out[edges] = (img[edges] * 0.45).astype(np.uint8)
    return out


def any_line_art(img, rng):
    """Line art from one of several pipelines (how the lines were drawn should not matter)."""
    k = int(rng.integers(0, 4))
    if k == 0:
        return line_art(img)
    if k == 1:
        return lines_canny_flat(img, rng)
    if k == 2:
        return lines_xdog(img, rng)
    return lines_colour(img, rng)


def quiet_crop(img, area, rng, tries=8):
    """A crop of `area` at the quietest (least gradient energy) of `tries` random places."""
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    mag = cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    h, w = g.shape
    s = math.sqrt(area)
    cw, ch = max(1, int(w * s)), max(1, int(h * s))
    best, best_e = (0, 0), None
    for _ in range(tries):
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        e = float(mag[y:y + ch, x:x + cw].mean())
        if best_e is None or e < best_e:
            best, best_e = (x, y), e
    x, y = best
    return img[y:y + ch, x:x + cw].copy()


def colour_timing(img, rng):
    """Another release's grading: a gamma per channel, contrast, brightness, saturation."""
    i = np.arange(256) / 255.0
    contrast, bright = 1 + rng.uniform(-0.2, 0.2), rng.uniform(-18, 18)
    lut = np.stack([(255.0 * i ** math.exp(rng.uniform(-0.25, 0.25)) - 128) * contrast + 128 + bright
                    for _ in range(3)], axis=1)
    out = cv2.LUT(img, np.clip(lut, 0, 255).astype(np.uint8).reshape(256, 1, 3))
    hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + rng.uniform(-0.4, 0.4)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def gamma(img, g):
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** g, 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def hue_shift(img, degrees):
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + int(degrees) // 2) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def gray(img):
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def rotate(img, degrees, scale):
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, scale)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)


def crop(img, area, rng, aspect_jitter=1.0):
    h, w = img.shape[:2]
    s = math.sqrt(area)
    a = aspect_jitter
    cw = max(1, min(w, int(w * s * math.sqrt(a))))
    ch = max(1, min(h, int(h * s / math.sqrt(a))))
    x = int(rng.integers(0, w - cw + 1))
    y = int(rng.integers(0, h - ch + 1))
    return img[y:y + ch, x:x + cw].copy()


def pad(img, grow, rng, color=None):
    h, w = img.shape[:2]
    W, H = int(w * (1 + grow)), int(h * (1 + grow))
    if color is None:
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
    canvas = np.empty((H, W, 3), np.uint8)
    canvas[:] = color
    x = int(rng.integers(0, W - w + 1))
    y = int(rng.integers(0, H - h + 1))
    canvas[y:y + h, x:x + w] = img
    return canvas


def sheet(img, rng):
    """A retake sheet: the picture at about half the page width among text and panels."""
    W, H = 1600, 1130
    page = np.full((H, W, 3), 250, np.uint8)
    s = 820.0 / img.shape[1]
    small = _resize(img, img.shape[1] * s, img.shape[0] * s)
    fh = min(small.shape[0], 700)
    page[170:170 + fh, 60:60 + small.shape[1]] = small[:fh]
    cv2.rectangle(page, (60, 170), (60 + small.shape[1], 170 + fh), (0, 0, 0), 2)
    cv2.putText(page, "RETAKE  SC %03d  CUT %02d" % (rng.integers(1, 300), rng.integers(1, 60)), (60, 80),
                cv2.FONT_HERSHEY_SIMPLEX, 1.3, (20, 20, 20), 2, cv2.LINE_AA)
    cv2.rectangle(page, (960, 170), (1540, 500), (0, 0, 0), 2)
    for i in range(6):
        y = 560 + i * 70
        cv2.line(page, (960, y), (1540, y), (180, 180, 180), 1)
        if i < 4:
            cv2.putText(page, NOTES[int(rng.integers(0, len(NOTES)))], (970, y - 15), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
                        (30, 30, 30), 2, cv2.LINE_AA)
    return page


def annotate(img, items, rng):
    """Pen strokes, circles, arrows and notes over the picture."""
    out = img.copy()
    h, w = img.shape[:2]
    thick = max(2, w // 200)
    for i in range(items):
        pen = PENS[int(rng.integers(0, len(PENS)))]
        p = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        kind = i % 4
        if kind == 0:
            pts = [p]
            for _ in range(6):
                pts.append((pts[-1][0] + int(rng.integers(-w // 12, w // 12 + 1)),
                            pts[-1][1] + int(rng.integers(-h // 12, h // 12 + 1))))
            cv2.polylines(out, [np.array(pts, np.int32)], False, pen, thick, cv2.LINE_AA)
        elif kind == 1:
            axes = (int(rng.integers(max(1, w // 20), max(2, w // 8))), int(rng.integers(max(1, h // 20), max(2, h // 8))))
            cv2.ellipse(out, p, axes, float(rng.uniform(0, 180)), 0, 360, pen, thick, cv2.LINE_AA)
        elif kind == 2:
            q = (p[0] + int(rng.integers(-w // 5, w // 5 + 1)), p[1] + int(rng.integers(-h // 5, h // 5 + 1)))
            cv2.arrowedLine(out, p, q, pen, thick, cv2.LINE_AA, 0, 0.2)
        else:
            cv2.putText(out, NOTES[int(rng.integers(0, len(NOTES)))], p, cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 900.0),
                        pen, thick, cv2.LINE_AA)
    return out


def blank_region(img, area, rng):
    """A missing layer: a rectangle filled with the picture's mean colour."""
    out = img.copy()
    h, w = img.shape[:2]
    aspect = rng.uniform(0.6, 1.6)
    bw = min(w, int(math.sqrt(area * w * h * aspect)))
    bh = min(h, int(area * w * h / max(1, bw)))
    x = int(rng.integers(0, w - bw + 1))
    y = int(rng.integers(0, h - bh + 1))
    out[y:y + bh, x:x + bw] = img.reshape(-1, 3).mean(axis=0).astype(np.uint8)
    return out


def noise(img, sigma, rng):
    return np.clip(img.astype(np.float32) + rng.normal(0, sigma, img.shape), 0, 255).astype(np.uint8)


def blur(img, sigma):
    return cv2.GaussianBlur(img, (0, 0), sigma)


def jpeg(img, quality):
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


# ---------------------------------------------------------------------------
# Evaluation: fixed transforms named as the leak benchmark names them.

NAMED_TRANSFORMS = [
    "png", "jpeg40", "quarter", "crop50", "crop25", "pad50", "sheet", "annotate_heavy", "lineart", "gray",
    "gamma_dark", "hue90", "flip", "rotate15", "squash50", "blur_strong", "noise_strong", "blank_region50",
    "lineart_small", "regrade_blur", "blur_noise",
]
# The generalisation benchmark's tuned-on families that change the picture's
# content (`celmatch bench leaks --transforms generalisation`), parameters drawn
# from the same ranges; the held-back families are left out on purpose.
GENERALISATION_TRANSFORMS = ["lines_canny", "lines_xdog", "lines_colour", "crop_half", "crop_half_quiet"]


def apply_named(img, name, rng):
    """One leak transform at the leak benchmark's strength. `img` is a full-size frame."""
    h, w = img.shape[:2]
    px = max(0.5, w / 640.0)  # as bench/leaks/leak_transforms.cpp scales blur to the frame's width
    if name == "png":
        return img.copy()
    if name == "jpeg40":
        return jpeg(img, 40)
    if name == "quarter":
        return _resize(img, w / 4, h / 4)
    if name in ("crop50", "crop25"):
        return crop(img, 0.5 if name == "crop50" else 0.25, rng)
    if name == "pad50":
        return pad(img, 0.5, rng)
    if name == "sheet":
        return sheet(img, rng)
    if name == "annotate_heavy":
        return annotate(img, 12, rng)
    if name == "lineart":
        return line_art(img)
    if name == "gray":
        return gray(img)
    if name == "gamma_dark":
        return gamma(img, 2.0)
    if name == "hue90":
        return hue_shift(img, 90)
    if name == "flip":
        return img[:, ::-1].copy()
    if name == "rotate15":
        return rotate(img, 15.0 * (1 if rng.integers(0, 2) else -1), 1.0)
    if name == "squash50":
        return _resize(img, w * 0.5, h)
    if name == "blur_strong":
        return blur(img, 5.0 * px)
    if name == "noise_strong":
        return noise(img, 20.0, rng)
    if name == "blank_region50":
        return blank_region(img, 0.5, rng)
    # Stacked damage, as bench/leaks/leak_transforms.cpp draws it.
    if name == "lineart_small":
        return jpeg(_resize(line_art(img), w * 0.3, h * 0.3), 70)
    if name == "regrade_blur":
        graded = cv2.convertScaleAbs(gamma(hue_shift(img, 60), 1.6), alpha=0.5, beta=64)
        return blur(graded, 3.0 * px)
    if name == "blur_noise":
        return jpeg(noise(blur(img, 4.0 * px), 25.0, rng), 50)
    if name == "lines_canny":
        s = rng.uniform(0.5, 1.0)
        return _resize(lines_canny_flat(img, rng), w * s, h * s)
    if name == "lines_xdog":
        return lines_xdog(img, rng)
    if name == "lines_colour":
        return lines_colour(img, rng)
    if name == "crop_half":
        cw, ch = int(w * rng.uniform(0.4, 0.6)), int(h * rng.uniform(0.4, 0.6))
        x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return img[y:y + ch, x:x + cw].copy()
    if name == "crop_half_quiet":
        return quiet_crop(img, rng.uniform(0.4, 0.6) ** 2, rng, tries=16)
    raise ValueError("unknown transform " + name)


# ---------------------------------------------------------------------------
# Training: a random chain of damages.

class RandomLeak:
    """Draws a random leak for each call; `strong=False` gives a reference-like
    view (small crop, mild colour and compression only). `varied` adds the
    generalisation benchmark's tuned-on damage: line art from four pipelines
    (region borders, Canny on flattened colours, XDoG, coloured lines), crops
    down to 16% of the area and of the quietest place, another release's colour
    timing. Off, the chain is the one celmatch-embed-v2 was trained with."""

    def __init__(self, size, varied=False):
        self.size = size
        self.varied = varied

    def __call__(self, img, rng, strong=True):
        if not strong:
            if rng.random() < 0.5:
                img = crop(img, rng.uniform(0.7, 1.0), rng)
            if rng.random() < 0.5:
                img = img[:, ::-1]
            if rng.random() < 0.3:
                img = jpeg(img, rng.integers(50, 95))
            return _resize(img, self.size, self.size)

        # Geometry first, at the stored resolution, so line art and strokes
        # are drawn at a realistic scale before the final downscale.
        if self.varied:
            r = rng.random()
            if r < 0.15:
                img = quiet_crop(img, rng.uniform(0.16, 0.36), rng)
            elif r < 0.8:
                img = crop(img, rng.uniform(0.16, 1.0), rng, aspect_jitter=math.exp(rng.uniform(-0.3, 0.3)))
        elif rng.random() < 0.8:
            img = crop(img, rng.uniform(0.25, 1.0), rng, aspect_jitter=math.exp(rng.uniform(-0.3, 0.3)))
        if rng.random() < 0.5:
            img = img[:, ::-1]
        if rng.random() < 0.2:
            img = rotate(img, rng.uniform(-15, 15), rng.uniform(1.0, 1.15))

        # Colour: a line drawing replaces colour altogether; otherwise grading.
        if rng.random() < (0.25 if self.varied else 0.2):
            img = any_line_art(img, rng) if self.varied else line_art(img)
        else:
            if self.varied and rng.random() < 0.2:
                img = colour_timing(img, rng)
            if rng.random() < 0.25:
                img = gray(img)
            if rng.random() < 0.35:
                img = gamma(img, math.exp(rng.uniform(-0.9, 0.8)))
            if rng.random() < 0.3:
                img = hue_shift(img, rng.uniform(-180, 180))
            if rng.random() < 0.2:
                alpha, beta = rng.uniform(0.6, 1.4), rng.uniform(-40, 40)
                img = cv2.convertScaleAbs(img, alpha=alpha, beta=beta)

        # Things added to or removed from the picture.
        if rng.random() < 0.15:
            img = blank_region(img, rng.uniform(0.1, 0.5), rng)
        if rng.random() < 0.25:
            img = annotate(img, int(rng.integers(1, 13)), rng)
        r = rng.random()
        if r < 0.08:
            img = sheet(img, rng)
        elif r < 0.2:
            white = (250, 250, 250) if rng.random() < 0.5 else None
            img = pad(img, rng.uniform(0.1, 0.7), rng, color=white)

        # Degradation of the file itself.
        img = _resize(img, self.size * 1.5, self.size * 1.5 * img.shape[0] / img.shape[1]) \
            if img.shape[1] > self.size * 1.5 else img
        if rng.random() < 0.25:
            img = blur(img, rng.uniform(0.5, 2.5))
        if rng.random() < 0.2:
            img = noise(img, rng.uniform(3, 20), rng)
        if rng.random() < 0.35:
            img = jpeg(img, rng.integers(20, 90))
        return _resize(np.ascontiguousarray(img), self.size, self.size)
