#!/usr/bin/env python3
"""Golden embedding vectors of the committed model for tests/test_embedding.cpp.

Computes, with OpenCV's DNN module in Python and this file's own
preprocessing (resize INTER_AREA to the manifest's input size, BGR -> RGB,
scale, mean/std, NCHW, L2 normalisation), the vectors of a few pictures that
the C++ test draws pixel for pixel the same way, and writes them as
tests/data/embedding_golden.txt: one line per picture, its name then the
vector. The C++ side (EmbeddingModel::Embed) must agree: a check of its
preprocessing for gray, BGRA and non-square inputs, independent of it.

Usage: /usr/bin/python3 models/golden_vectors.py [--model models/celmatch-embed-v2.onnx]
"""
import argparse
import json
import os

import cv2
import numpy as np


def pictures():
    """name -> uint8 picture; must match GoldenPictures() in tests/test_embedding.cpp."""
    h, w = 100, 150
    y, x = np.mgrid[0:h, 0:w]
    gray = ((x * 7 + y * 3) % 256).astype(np.uint8)
    h, w = 90, 200
    y, x = np.mgrid[0:h, 0:w]
    bgra = np.stack([x % 256, (y * 2) % 256, (x + y) % 256, np.zeros_like(x)], axis=-1).astype(np.uint8)
    h, w = 240, 64
    y, x = np.mgrid[0:h, 0:w]
    bands = np.stack([((y // 16) * 40) % 256, ((x // 8) * 30) % 256, ((x * y) // 64) % 256], axis=-1).astype(np.uint8)
    return {"gray_100x150": gray, "bgra_90x200": bgra, "bands_240x64": bands}


def embed(net, manifest, img):
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    img = cv2.resize(img, (manifest["input_width"], manifest["input_height"]), interpolation=cv2.INTER_AREA)
    if manifest.get("channel_order", "RGB") == "RGB":
        img = img[:, :, ::-1]
    x = img.astype(np.float64) * manifest.get("scale", 1 / 255)
    x = (x - np.array(manifest["mean"])) / np.array(manifest["std"])
    blob = x.transpose(2, 0, 1)[None].astype(np.float32)
    net.setInput(blob)
    v = net.forward().reshape(-1).astype(np.float64)
    return v / np.linalg.norm(v)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(here, "celmatch-embed-v2.onnx"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "embedding_golden.txt"))
    args = ap.parse_args()
    manifest = json.load(open(os.path.splitext(args.model)[0] + ".json"))
    cv2.setNumThreads(1)
    net = cv2.dnn.readNetFromONNX(args.model)
    with open(args.out, "w") as f:
        for name, img in pictures().items():
            v = embed(net, manifest, img)
            f.write(name + " " + " ".join("%.7g" % a for a in v) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
