#!/usr/bin/python3
"""Exports a trained celmatch embedding to ONNX for OpenCV's DNN module.

    /usr/bin/python3 models/export_embedding.py --checkpoint /tmp/celmatch-embed/checkpoint.pt

Writes models/celmatch-embed-v2.onnx, its manifest models/celmatch-embed-v2.json
and tests/data/embedding_reference.txt (the descriptor of a generated image,
which tests/test_embedding.cpp recomputes in C++). Then checks that OpenCV 4.6
(cv2.dnn.readNetFromONNX) reads the file and agrees with PyTorch.

torch 1.13's exporter leaves Identity nodes in the graph, which OpenCV 4.6's
importer rejects; they are folded away here (each consumer reads the
Identity's input instead) before the file is written.
"""
import argparse
import json
import os
import sys

import cv2
import numpy as np
import onnx
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_embedding import EMBED_DIM, INPUT_SIZE, MEAN_RGB, STD_RGB, EmbedNet  # noqa: E402

NAME = "celmatch-embed-v2"
OPSET = 11  # OpenCV 4.6's ONNX importer is tested up to about opset 13; 11 is well inside


def fold_identities(model):
    g = model.graph
    rename = {}
    keep = []
    for node in g.node:
        if node.op_type == "Identity":
            rename[node.output[0]] = node.input[0]
        else:
            keep.append(node)

    def resolve(name):
        while name in rename:
            name = rename[name]
        return name

    graph_outputs = {o.name for o in g.output}
    for node in keep:
        for i, name in enumerate(node.input):
            node.input[i] = resolve(name)
    # A graph output produced by an Identity: let the producer write it directly.
    for out_name in graph_outputs:
        src = resolve(out_name)
        if src != out_name:
            for node in keep:
                for i, name in enumerate(node.output):
                    if name == src:
                        node.output[i] = out_name
                for i, name in enumerate(node.input):
                    if name == src:
                        node.input[i] = out_name
    del g.node[:]
    g.node.extend(keep)
    return len(rename)


def reference_image():
    """The generated test picture; tests/test_embedding.cpp draws the same one
    with the same OpenCV calls (integer gradient, no anti-aliasing)."""
    h, w = 120, 160
    img = np.zeros((h, w, 3), np.uint8)
    ys, xs = np.mgrid[0:h, 0:w]
    img[..., 0] = (xs * 255) // (w - 1)
    img[..., 1] = (ys * 255) // (h - 1)
    img[..., 2] = 128
    cv2.rectangle(img, (20, 30), (70, 90), (0, 0, 255), -1)
    cv2.circle(img, (110, 60), 30, (255, 255, 255), -1)
    cv2.line(img, (0, 119), (159, 0), (0, 0, 0), 3)
    return img


def preprocess(bgr_images):
    """The manifest's recipe: area-resize to the input size (aspect not kept),
    BGR -> RGB, /255, minus mean, over std, NCHW."""
    x = np.stack([cv2.resize(im, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA) for im in bgr_images])
    x = x[..., ::-1].astype(np.float32) / 255.0
    x = (x - np.array(MEAN_RGB, np.float32)) / np.array(STD_RGB, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="/tmp/celmatch-embed/checkpoint.pt")
    ap.add_argument("--out-dir", default=here)
    ap.add_argument("--test-data", default=os.path.join(here, "..", "tests", "data"))
    ap.add_argument("--name", default=NAME, help="the model's name: its files are NAME.onnx and NAME.json")
    args = ap.parse_args()
    name = args.name
    torch.set_num_threads(2)

    model = EmbedNet()
    model.load_state_dict(torch.load(args.checkpoint, map_location="cpu"))
    model.eval()

    onnx_path = os.path.join(args.out_dir, name + ".onnx")
    dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
    torch.onnx.export(model, dummy, onnx_path, opset_version=OPSET, input_names=["input"],
                      output_names=["embedding"], dynamic_axes={"input": {0: "batch"}, "embedding": {0: "batch"}},
                      do_constant_folding=True)
    m = onnx.load(onnx_path)
    folded = fold_identities(m)
    onnx.checker.check_model(m)
    onnx.save(m, onnx_path)
    print("%s: %d Identity nodes folded, %d nodes, %.2f MB" %
          (onnx_path, folded, len(m.graph.node), os.path.getsize(onnx_path) / 1e6))

    manifest = {
        "name": name,
        "format": "onnx",
        "file": name + ".onnx",
        "input_name": "input",
        "output_name": "embedding",
        "input_width": INPUT_SIZE,
        "input_height": INPUT_SIZE,
        "resize": "area",
        "keep_aspect": False,
        "channel_order": "RGB",
        "scale": 1.0 / 255.0,
        "mean": MEAN_RGB,
        "std": STD_RGB,
        "output_dim": EMBED_DIM,
        "normalize": "l2",
    }
    with open(os.path.join(args.out_dir, name + ".json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")

    # OpenCV must read the file and agree with PyTorch.
    rng = np.random.default_rng(7)
    imgs = [reference_image()] + [rng.integers(0, 256, (90 + 10 * i, 160, 3), dtype=np.uint8) for i in range(3)]
    blob = preprocess(imgs)
    with torch.no_grad():
        ref = model(torch.from_numpy(blob)).numpy()
    net = cv2.dnn.readNetFromONNX(onnx_path)
    net.setInput(blob)
    got = net.forward()
    diff = np.abs(got - ref).max()
    print("OpenCV %s vs torch: max |diff| = %.2e over %s" % (cv2.__version__, diff, got.shape))
    if diff > 1e-4:
        sys.exit("OpenCV's output differs from PyTorch's")

    emb = got[0] / np.linalg.norm(got[0])
    os.makedirs(args.test_data, exist_ok=True)
    with open(os.path.join(args.test_data, "embedding_reference.txt"), "w") as f:
        f.write("# %s: L2-normalised descriptor of export_embedding.py's reference_image(), via OpenCV DNN\n" % name)
        f.write(" ".join("%.7f" % v for v in emb) + "\n")
    print("wrote manifest and tests/data/embedding_reference.txt")


if __name__ == "__main__":
    main()
