import numpy as np
import pytest

from hpsearch.core.whitening import patch_covariance, patches, whitening_weights


def _correlated_images(n=300, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 32, 32, 3))
    smooth = base + np.roll(base, 1, axis=1) + np.roll(base, 1, axis=2)  # neighbouring pixels correlate
    return (smooth @ np.array([[1, 0.5, 0.2], [0, 1, 0.4], [0, 0, 1]])).astype(np.float32)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_whitened_patches_have_identity_covariance(p):
    images = _correlated_images()
    kernel = whitening_weights(images, patch_size=p, eps=1e-8)
    d = p * p * 3
    assert kernel.shape == (p, p, 3, 2 * d)
    outputs = patches(images.astype(np.float64), p) @ kernel.reshape(d, 2 * d)[:, :d]
    assert np.allclose(np.cov(outputs, rowvar=False), np.eye(d), atol=1e-3)


def test_filters_are_sorted_by_eigenvalue_and_followed_by_their_negatives():
    images = _correlated_images()
    kernel = whitening_weights(images, 2, eps=5e-4).reshape(12, 24)
    assert np.array_equal(kernel[:, 12:], -kernel[:, :12])
    cov = patch_covariance(images, 2)
    directions = kernel[:, :12] / np.linalg.norm(kernel[:, :12], axis=0)
    variances = np.einsum("ij,ik,kj->j", directions, cov, directions)
    assert np.all(np.diff(variances) <= 1e-9)  # largest eigenvalue first


def test_patches_follow_the_conv_kernel_layout():
    from keras import ops

    images = _correlated_images(4)
    kernel = whitening_weights(images, 2)
    conv = ops.convert_to_numpy(ops.conv(images, kernel, strides=1, padding="valid")).reshape(-1, 24)
    assert np.allclose(conv, patches(images, 2) @ kernel.reshape(12, 24), atol=1e-4)


def test_at_the_default_eps_each_filter_is_an_eigenvector_scaled_by_eigenvalue_plus_eps():
    """By hand: eigendecomposition of the patches' covariance, each eigenvector times (lambda + eps)^-1/2, with
    the eps TrainConfig uses by default. The images are faint so that eps = 5e-4 is not negligible."""
    from hpsearch.core.config import TrainConfig

    eps = TrainConfig().whitening_eps
    assert eps == 5e-4
    images = _correlated_images() * 0.02
    kernel = whitening_weights(images, 2).reshape(12, 24)[:, :12]  # default eps
    x = patches(images.astype(np.float64), 2)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(x, rowvar=False, bias=True))
    order = np.argsort(eigenvalues)[::-1]
    expected = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)
    expected *= np.sign((expected * kernel).sum(0))  # an eigenvector's sign is free
    np.testing.assert_allclose(kernel, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), (eigenvalues[order] + eps) ** -0.5, rtol=1e-5)
    assert eigenvalues.min() < 20 * eps  # so a dropped (or doubled) eps would change the norms by > 2 %
