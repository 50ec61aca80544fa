"""Draw figures/network.png, the RWSR-EDL dual-branch generator: `python figures/draw_network.py`."""
import os
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

TRUNK, HEAD, MASK, TENSOR, LOSS = "#dbe9f6", "#fde2c8", "#e3d7f0", "#d6efd6", "#f2f2f2"
EDGE = "#333333"


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    def edge_toward(self, px, py, pad=0.06):
        """Point on this box's border on the way to (px, py)."""
        dx, dy = px - self.x, py - self.y
        scales = [(self.w / 2 + pad) / abs(dx) if dx else float("inf"),
                  (self.h / 2 + pad) / abs(dy) if dy else float("inf")]
        t = min(scales)
        return self.x + t * dx, self.y + t * dy


def box(ax, x, y, text, color, w=1.5, h=0.8, size=8.5):
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.1",
                                fc=color, ec=EDGE, lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=size)
    return Box(x, y, w, h)


def arrow(ax, start, end, label=None, style="-|>", line="-"):
    """Arrow between two boxes (or points), clipped to the box borders."""
    sx, sy = (start.x, start.y) if isinstance(start, Box) else start
    ex, ey = (end.x, end.y) if isinstance(end, Box) else end
    tail = start.edge_toward(ex, ey) if isinstance(start, Box) else start
    head = end.edge_toward(sx, sy) if isinstance(end, Box) else end
    ax.annotate("", xy=head, xytext=tail,
                arrowprops=dict(arrowstyle=style, lw=1.0, color=EDGE, linestyle=line, shrinkA=0, shrinkB=0))
    if label:
        ax.text((tail[0] + head[0]) / 2 + 0.12, (tail[1] + head[1]) / 2, label, fontsize=8, va="center")


def draw_trunk(ax, y):
    nodes = [box(ax, 0.0, y, "LR x", TENSOR, 1.0),
             box(ax, 1.8, y, "conv_first", TRUNK, 1.4),
             box(ax, 3.9, y, "RRDB_trunk\nnb x RRDB\n(3 dense blocks each)", TRUNK, 2.3, 1.1),
             box(ax, 6.1, y, "trunk_conv\n+ skip", TRUNK, 1.4),
             box(ax, 8.25, y, "log2(scale) x\n(nearest 2x,\nupconv1/2, LReLU)", TRUNK, 2.1, 1.1),
             box(ax, 10.4, y, "HRconv, LReLU,\nconv_last", TRUNK, 1.8),
             box(ax, 12.4, y, "mid\n(3 channels)", TENSOR, 1.6)]
    for start, end in zip(nodes, nodes[1:]):
        arrow(ax, start, end)
    ax.text(6.2, y + 0.85, "ESRGAN trunk  (which_model_G: RRDB alone; RRDB_PSNR_x4.pth fits it)",
            ha="center", fontsize=9)
    return nodes[0], nodes[-1]


def draw_head(ax, lr, mid):
    branch1 = box(ax, 9.6, 2.4, "branch1\n3 residual blocks", HEAD, 2.0)
    mask = box(ax, 9.6, 0.4, "sm: 3 residual blocks\n(3 -> nf -> nf -> nf)\nsoftmax over channels -> M",
               MASK, 3.0, 1.1)
    branch2 = box(ax, 9.6, -1.6, "branch2\n3 residual blocks", HEAD, 2.0)
    # mid feeds the three stacks through a vertical bus on the right
    bus_x = mid.x
    ax.plot([bus_x, bus_x], [mid.y - mid.h / 2, branch2.y], color=EDGE, lw=1.0)
    for target in (branch1, mask, branch2):
        arrow(ax, (bus_x, target.y), target)
    mul1 = box(ax, 7.1, 2.4, "M * .", MASK, 1.0)
    mul2 = box(ax, 7.1, -1.6, "(1 - M) * .", MASK, 1.2)
    tail1 = box(ax, 5.2, 2.4, "tail_conv1", HEAD, 1.4)
    tail2 = box(ax, 5.2, -1.6, "tail_conv2", HEAD, 1.4)
    y_p = box(ax, 3.2, 2.4, "y_p", TENSOR, 0.9)
    y_1 = box(ax, 3.2, -1.6, "y_1", TENSOR, 0.9)
    y = box(ax, 1.2, 0.4, "y = y_p + y_1", TENSOR, 1.6)
    arrow(ax, branch1, mul1)
    arrow(ax, branch2, mul2)
    arrow(ax, mask, mul1, "M")
    arrow(ax, mask, mul2, "1 - M")
    for start, end in ((mul1, tail1), (mul2, tail2), (tail1, y_p), (tail2, y_1), (y_p, y), (y_1, y)):
        arrow(ax, start, end)
    # optional global residual: bicubic(x) joins the L1 branch
    ax.plot([lr.x, lr.x], [lr.y - lr.h / 2, y_1.y], color=EDGE, lw=1.0, ls="--")
    arrow(ax, (lr.x, y_1.y), y_1, line="--")
    ax.text(lr.x - 0.15, y_1.y + 0.45, "+ bicubic(x) when\nglobal_residual\n(not in the official\nnetwork)",
            fontsize=7.5, style="italic", va="center", ha="right")
    return y_p, y_1, y


def draw_losses(ax, y_p, y_1, y):
    gan = box(ax, y_p.x, 3.55, "RaGAN with D", LOSS, 1.5, 0.5, 8)
    vgg = box(ax, -1.4, y.y, "VGG19 conv5_4\nfeature loss", LOSS, 1.8, 0.8, 8)
    l1 = box(ax, y_1.x, -2.9, "L1 to HR", LOSS, 1.5, 0.5, 8)
    for tensor, loss in ((y_p, gan), (y, vgg), (y_1, l1)):
        arrow(ax, tensor, loss, style="-", line=":")
    top, bottom = (y_p.x + 0.75, y_p.y - y_p.h / 2), (y_1.x + 0.75, y_1.y + y_1.h / 2)
    arrow(ax, top, bottom, style="<->", line=":")
    ax.text(top[0] + 0.1, 0.4, "exclusion loss\n(exclusion_weight,\ndefault 0)", fontsize=7.5, va="center")


def main():
    fig, ax = plt.subplots(figsize=(13, 7.2))
    lr, mid = draw_trunk(ax, 5.0)
    y_p, y_1, y = draw_head(ax, lr, mid)
    draw_losses(ax, y_p, y_1, y)
    ax.text(9.6, -2.9, "forward returns (y, y_p, y_1); losses in grey (dotted)", ha="center", fontsize=8.5)
    ax.set_xlim(-2.4, 13.3)
    ax.set_ylim(-3.4, 6.1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title("RWSR-EDL generator (which_model_G: RRDBNet)", fontsize=12)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "network.png")
    fig.savefig(out, dpi=130, bbox_inches="tight")
    print(out)


if __name__ == "__main__":
    main()
