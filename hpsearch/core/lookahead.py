"""Lookahead (Zhang et al. 2019, "Lookahead Optimizer: k steps forward, 1 step back") for Keras 3.

The inner optimiser moves the *fast* weights (the model's own variables) as usual. Every k steps the
*slow* weights take one step toward them and the fast weights restart from there:

    slow <- slow + alpha * (fast - slow);   fast <- slow

Why: the slow weights average out the inner optimiser's noisy last steps; the paper reports lower
variance and less sensitivity to the inner optimiser's learning rate, at the cost of one copy of the
weights.

Built like Keras's own `LossScaleOptimizer`: a wrapper that owns the inner optimiser, delegates
`learning_rate` and `iterations` to it, and keeps its extra state (the slow weights) as optimiser
variables, so it saves, loads and checkpoints with the model. The slow weights start as a copy of
the fast ones (taken on the first step) and the sync is selected with `ops.where` on the inner
optimiser's step count, not branched with `ops.cond`: the same code then runs eagerly, inside a compiled
step, and inside a stateless step (Keras's base `stateless_apply`, used by one backend's trainer, runs `apply` under a
StatelessScope, where an assignment inside a traced branch would leak out of it). The price is one
elementwise select per weight and step. Under a `mixed_float16` policy `compile` wraps it as
`LossScaleOptimizer(Lookahead(inner))`: skipped (non-finite) steps never reach Lookahead, so they
are not counted toward k. Single-device only (no distribution-strategy merge logic).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="hpsearch")
class Lookahead(keras.optimizers.Optimizer):
    """Wrap `optimizer`: every `k` of its steps, pull slow weights `alpha` of the way to the fast ones."""

    def __init__(
        self, optimizer: keras.optimizers.Optimizer, k: int = 5, alpha: float = 0.5, name: str | None = None, **kwargs
    ):
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(f"Lookahead wraps a keras.optimizers.Optimizer (got {type(optimizer).__name__})")
        if int(k) != k or k < 1:
            raise ValueError(f"Lookahead k must be an integer >= 1 (got {k})")
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"Lookahead alpha must be in (0, 1] (got {alpha})")
        if kwargs:
            raise ValueError(f"Lookahead does not take {', '.join(sorted(kwargs))}; set them on the inner optimizer")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = optimizer
        self.k = int(k)
        self.alpha = float(alpha)

    # --- state --------------------------------------------------------------------------------------
    def build(self, var_list):
        if self.built:
            return
        self.inner_optimizer.build(var_list)
        # Zeros here; `apply` copies the fast weights in before the first step. (Keras's TF trainer builds
        # the optimiser inside the traced train step, where an initialiser that reads the model's
        # variables cannot be lifted out of an XLA-compiled function.)
        self._slow_weights = self.add_optimizer_variables(var_list, "slow")
        super().build(var_list)

    @property
    def variables(self):
        return self._variables[:] + self.inner_optimizer.variables

    @property
    def slow_weights(self):
        return [s for s in self._slow_weights if s is not None]

    # --- one step -------------------------------------------------------------------------------------
    def apply(self, grads, trainable_variables=None):
        if not self.built:
            if trainable_variables is None:
                raise ValueError("Lookahead must be built first: call optimizer.build(trainable_variables)")
            self.build(list(trainable_variables))
        first = ops.equal(self.inner_optimizer.iterations, 0)
        for fast, slow in self._pairs():  # slow <- fast before the very first step
            self.assign(slow, ops.where(first, ops.cast(fast.value, slow.dtype), slow.value))
        self.inner_optimizer.apply(grads, trainable_variables)
        sync = ops.equal(ops.mod(self.inner_optimizer.iterations, self.k), 0)
        for fast, slow in self._pairs():  # `.value`: the current value, also in a stateless scope
            slow_value, fast_value = slow.value, fast.value
            new_slow = ops.where(
                sync, slow_value + (ops.cast(fast_value, slow.dtype) - slow_value) * self.alpha, slow_value
            )
            self.assign(slow, new_slow)
            self.assign(fast, ops.where(sync, ops.cast(new_slow, fast.dtype), fast_value))

    def _pairs(self):
        """(fast, slow) for every variable that has a slow copy (Keras gives none to overwrite-with-gradient ones)."""
        return [(f, s) for f, s in zip(self._trainable_variables, self._slow_weights) if s is not None]

    # --- delegated to the inner optimiser ------------------------------------------------------------
    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    # --- serialisation --------------------------------------------------------------------------------
    def get_config(self):
        return {
            "name": self.name,
            "k": self.k,
            "alpha": self.alpha,
            "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)
