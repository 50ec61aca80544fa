"""x8 self-ensemble: the 8 flips/transpositions of the input, undone and averaged."""
import itertools

# (transpose, flip rows, flip columns); the identity comes first.
TRANSFORMS = tuple(itertools.product((False, True), repeat=3))


def apply_transform(x, transform):
    """Flip columns, then rows, then transpose the last two dimensions."""
    transpose, flip_rows, flip_cols = transform
    if flip_cols:
        x = x.flip(-1)
    if flip_rows:
        x = x.flip(-2)
    if transpose:
        x = x.transpose(-2, -1)
    return x


def invert_transform(y, transform):
    transpose, flip_rows, flip_cols = transform
    if transpose:
        y = y.transpose(-2, -1)
    if flip_rows:
        y = y.flip(-2)
    if flip_cols:
        y = y.flip(-1)
    return y


def ensemble_forward(forward, x):
    """Mean of forward over the 8 transforms; one transform at a time to bound memory."""
    total = None
    for transform in TRANSFORMS:
        y = invert_transform(forward(apply_transform(x, transform).contiguous()), transform).float()
        total = y if total is None else total.add_(y)
    return total.div_(len(TRANSFORMS))


class EnsembleForward:
    """Wrap a forward function so that every call is self-ensembled."""

    def __init__(self, forward):
        self.forward = forward

    def __call__(self, x):
        return ensemble_forward(self.forward, x)
