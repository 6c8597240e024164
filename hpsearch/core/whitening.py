"""The whitening initialiser of `whitening_conv` (as in airbench and the original project).

The first layer's filters are the eigenvectors of the covariance of p x p training patches, each scaled
by 1/sqrt(eigenvalue + eps), so the layer's outputs start decorrelated with unit variance: the network
begins from a whitened view of the image, which is what buys most of the first epoch's progress. The
negated filters are appended so that the activation after the layer keeps both signs of each direction.
"""

from __future__ import annotations

import numpy as np

MAX_IMAGES = 5000  # enough for a stable 12x12 (p = 2) covariance; more only costs memory


def patches(images: np.ndarray, patch_size: int) -> np.ndarray:
    """All p x p patches (stride 1, valid) of float images (n, h, w, c), flattened in the conv kernel's
    (kh, kw, c) order: shape (n * (h-p+1) * (w-p+1), p*p*c)."""
    windows = np.lib.stride_tricks.sliding_window_view(images, (patch_size, patch_size), axis=(1, 2))
    # windows: (n, h', w', c, p, p) -> (n, h', w', p, p, c)
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, patch_size * patch_size * images.shape[-1])


def patch_covariance(images: np.ndarray, patch_size: int, chunk: int = 500) -> np.ndarray:
    """Covariance of the images' p x p patches, accumulated in float64 over chunks of images."""
    total, outer, count = 0.0, 0.0, 0
    for start in range(0, len(images), chunk):
        x = patches(images[start : start + chunk].astype(np.float64), patch_size)
        total = total + x.sum(0)
        outer = outer + x.T @ x
        count += len(x)
    mean = total / count
    return outer / count - np.outer(mean, mean)


def whitening_weights(images: np.ndarray, patch_size: int = 2, eps: float = 5e-4) -> np.ndarray:
    """The conv kernel (p, p, c, 2*p*p*c): eigenvectors of the patch covariance, largest eigenvalue first,
    scaled by (eigenvalue + eps)^-1/2, followed by their negatives. `images`: normalised float (n, h, w, c)."""
    images = images[:MAX_IMAGES]
    channels = images.shape[-1]
    eigenvalues, eigenvectors = np.linalg.eigh(patch_covariance(images, patch_size))
    order = np.argsort(eigenvalues)[::-1]  # eigh sorts ascending
    scaled = eigenvectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0.0) + eps)
    kernel = scaled.reshape(patch_size, patch_size, channels, -1)
    return np.concatenate([kernel, -kernel], axis=-1).astype(np.float32)
